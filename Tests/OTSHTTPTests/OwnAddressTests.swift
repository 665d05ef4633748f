import Foundation
import OTSHTTP
import Testing

/// Telling a URL that points back at this component, in every spelling of
/// an address the resolver takes.
@Suite struct OwnAddressTests {
    @Test(arguments: [
        ("127.0.0.1", "127.0.0.1"), ("2130706433", "127.0.0.1"), ("0x7f000001", "127.0.0.1"), ("0x7f.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"), ("0177.0.0.1", "127.0.0.1"), ("017700000001", "127.0.0.1"), ("10.0.0.5", "10.0.0.5"),
        ("167772165", "10.0.0.5"), ("0", "0.0.0.0"), ("[::1]", "::1"), ("[::FFFF:127.0.0.1]", "::ffff:127.0.0.1"),
        ("LocalHost", "localhost"), ("ci.lab.example", "ci.lab.example"), ("256.0.0.1", "256.0.0.1"),
    ])
    func canonicalHostsAreWhatTheResolverMakesOfThem(host: String, canonical: String) {
        #expect(OwnAddress.canonical(host) == canonical)
    }

    @Test(arguments: [
        "http://127.0.0.1:8311/", "http://127.9.9.9:8311/x", "http://localhost:8311/", "http://LOCALHOST.:8311/",
        "http://api.localhost:8311/", "http://0.0.0.0:8311/", "http://[::]:8311/", "http://[::1]:8311/",
        "http://[::ffff:127.0.0.1]:8311/", "http://2130706433:8311/", "http://0x7f.1:8311/", "http://0177.0.0.1:8311/",
        "http://lab-monitor:8311/",
    ])
    func urlsToThisPortOnThisMachineAreOwn(url: String) {
        let own = OwnAddress(host: "Lab-Monitor", port: 8311)
        #expect(own.isOwn(url), "\(url)")
    }

    @Test(arguments: [
        "http://127.0.0.1:8312/", "http://10.0.0.5:8311/", "http://ci.lab.example:8311/", "http://localhost.example:8311/",
        "http://127.0.0.1/", "not a url", "http://:8311/",
    ])
    func otherPortsAndHostsAreNot(url: String) {
        let own = OwnAddress(host: "lab-monitor", port: 8311)
        #expect(!own.isOwn(url), "\(url)")
    }

    @Test func theMachinesOwnNameIsOwn() {
        let own = OwnAddress(host: "0.0.0.0", port: 8311)
        #expect(own.isOwn("http://\(ProcessInfo.processInfo.hostName):8311/"))
    }

    @Test func theDefaultPortsOfTheSchemeCount() {
        #expect(OwnAddress(host: "127.0.0.1", port: 80).isOwn("http://127.0.0.1/hook"))
        #expect(OwnAddress(host: "127.0.0.1", port: 443).isOwn("https://127.0.0.1/hook"))
        #expect(!OwnAddress(host: "127.0.0.1", port: 443).isOwn("http://127.0.0.1/hook"))
    }

    @Test func thePortBoundReplacesTheOneConfigured() {
        let own = OwnAddress(host: "127.0.0.1", port: 0)
        #expect(!own.isOwn("http://127.0.0.1:40123/"))
        own.listening(on: 40123)
        #expect(own.isOwn("http://127.0.0.1:40123/"))
        #expect(!own.isOwn("http://127.0.0.1:0/"))
    }
}
