import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The address a server or monitor listens on, to tell a URL that points
/// back at it: a callback there would have the component call itself.
public final class OwnAddress: Sendable {
    let host: String
    private let port: Mutex<Int>

    /// `host` and `port` as configured; the port is replaced by the one
    /// bound once the component listens (`listening(on:)`).
    public init(host: String, port: Int) {
        self.host = host.lowercased()
        self.port = Mutex(port)
    }

    public func listening(on port: Int) {
        self.port.withLock { $0 = port }
    }

    /// Whether `url` names this component: its port, on its configured
    /// host, this machine's name or a loopback or unspecified address.
    public func isOwn(_ url: String) -> Bool {
        guard let components = URLComponents(string: url), let host = components.host?.lowercased() else { return false }
        let scheme = components.scheme?.lowercased()
        let urlPort = components.port ?? (scheme == "https" ? 443 : 80)
        guard urlPort == port.withLock({ $0 }) else { return false }
        let trimmed = Self.canonical(host)
        let local: Set<String> = [
            self.host, "localhost", "localhost.", "0.0.0.0", "::", "::1", ProcessInfo.processInfo.hostName.lowercased(),
        ]
        return local.contains(trimmed) || trimmed.hasPrefix("127.") || trimmed.hasSuffix(".localhost")
            || trimmed.hasPrefix("::ffff:127.")
    }

    /// A host as it is meant: IPv4 addresses in any form the resolver
    /// takes (`2130706433`, `0x7f.1`) in dotted form, brackets off IPv6.
    public static func canonical(_ host: String) -> String {
        let host = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        var address = in_addr()
        guard !host.contains(":"), inet_aton(host, &address) != 0 else { return host }
        let value = UInt32(bigEndian: address.s_addr)
        return [24, 16, 8, 0].map { String((value >> UInt32($0)) & 0xff) }.joined(separator: ".")
    }
}
