import Foundation
import NIOHTTP1
import OTSCore

extension OTSClient {
    /// Every worker instance's health (a server's API).
    public func devices() async throws(ClientError) -> DeviceList {
        try await call(.GET, "devices")
    }

    /// An operator's command on a device (`host/instance`); an admin token.
    public func device(_ workerID: String, _ kind: DeviceCommand.Kind, reason: String? = nil) async throws(ClientError)
        -> DeviceHealthView
    {
        let parts = workerID.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw ClientError(.unusable, "'\(workerID.prefix(200))' is not a worker instance (host/instance)")
        }
        return try await call(
            .POST, "devices/\(Self.segment(parts[0]))/\(Self.segment(parts[1]))/\(kind.rawValue)", json: DeviceCommand(reason: reason))
    }
}
