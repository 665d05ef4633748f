import OTSHTTP
import Testing

@testable import OTSMonitor

/// Where a testrun's callback may go.
@Suite struct CallbackPolicyTests {
    let own: OwnAddress = {
        let own = OwnAddress(host: "127.0.0.1", port: 0)
        own.listening(on: 8311)
        return own
    }()

    @Test(arguments: [
        "http://127.0.0.1:8311/", "http://localhost:8311/x", "http://[::1]:8311/", "http://0.0.0.0:8311/", "http://2130706433:8311/",
        "http://0x7f.1:8311/", "http://127.1.2.3:8311/", "HTTP://LOCALHOST:8311/",
    ])
    func aCallbackToTheMonitorItselfIsNeverDelivered(url: String) {
        let configuration = MonitorConfiguration()
        #expect(configuration.callbackRefusal(url, own: own)?.contains("points at this monitor") == true, "\(url)")
    }

    @Test func anyOtherHostIsAllowedByDefault() {
        let configuration = MonitorConfiguration()
        #expect(configuration.callbackRefusal("http://127.0.0.1:9000/hook", own: own) == nil, "another port")
        #expect(configuration.callbackRefusal("https://ci.lab.example/hook", own: own) == nil)
    }

    @Test(arguments: [
        ("https://ci.lab.example/hook", true), ("https://a.hooks.lab.example/x", true), ("https://hooks.lab.example/x", false),
        ("https://ci.lab.example.evil.com/", false), ("http://10.0.0.5/", true), ("http://167772165/", true),
        ("http://169.254.169.254/latest", false),
    ])
    func allowedHostsNarrowIt(url: String, allowed: Bool) {
        var configuration = MonitorConfiguration()
        configuration.callbackAllowedHosts = ["ci.lab.example", "*.hooks.lab.example", "10.0.0.5"]
        let refusal = configuration.callbackRefusal(url, own: own)
        #expect((refusal == nil) == allowed, "\(url): \(refusal ?? "allowed")")
        if !allowed { #expect(refusal?.contains("callback_allowed_hosts") == true) }
    }
}
