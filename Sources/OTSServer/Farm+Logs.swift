import Foundation
import OTSCore
import OTSStore

extension Farm {
    /// The most lines `latest_logs` gives (the newest).
    static let maximumLogLines = 10_000

    /// The farm's events of the last `seconds`, oldest first: those the
    /// monitor stored and those still on its queue, heartbeats left out.
    func recentEvents(seconds: Int, at now: Date = Date()) async throws -> [MonitorEvent] {
        let payloads = try await store.read { tx in
            try await tx.recentEvents(
                since: now.addingTimeInterval(-Double(seconds)), excluding: LogLine.excluded, limit: Self.maximumLogLines)
        }
        let decoder = JSONCoding.decoder()
        return payloads.compactMap { try? decoder.decode(MonitorEvent.self, from: Data($0.utf8)) }
    }
}
