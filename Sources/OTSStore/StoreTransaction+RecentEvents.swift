import Foundation
import OTSCore
import SQLKit

extension StoreTransaction {
    /// The events of the farm since `since`, oldest first, at most `limit`
    /// (the newest): those the monitor has stored, and those still waiting
    /// on its queue (so a stopped monitor hides nothing). Each event once;
    /// `excluding` leaves types out. JSON payloads, as they were sent.
    public func recentEvents(since: Date, excluding: Set<String> = [], limit: Int) async throws -> [String] {
        let from = Clock.millis(since)
        let limit = max(1, limit)
        var found: [String: (time: Int64, payload: String)] = [:]
        var query = SQLQueryString("SELECT id, received_at, payload FROM events WHERE received_at >= \(bind: from)")
        for type in excluding.sorted() { query.appendInterpolation(" AND type <> \(bind: type)" as SQLQueryString) }
        query.appendInterpolation(unsafeRaw: " ORDER BY received_at DESC LIMIT \(limit)")
        for row in try await db.raw(query).all() {
            found[try row.decode(column: "id", as: String.self)] = (
                try row.decode(column: "received_at", as: Int64.self), try row.decode(column: "payload", as: String.self)
            )
        }
        let queued = try await db.raw(
            """
            SELECT event_id, appended_at, payload FROM monitor_queue WHERE appended_at >= \(bind: from)
            ORDER BY seq DESC LIMIT \(unsafeRaw: String(excluding.isEmpty ? limit : 4 * limit))
            """
        ).all()
        for row in queued {
            let id = try row.decode(column: "event_id", as: String.self)
            guard found[id] == nil else { continue }
            let payload = try row.decode(column: "payload", as: String.self)
            // The queue's payloads are opaque to the store; their type is
            // read to leave out what the caller does not want.
            if !excluding.isEmpty, let type = Self.eventType(of: payload), excluding.contains(type) { continue }
            found[id] = (try row.decode(column: "appended_at", as: Int64.self), payload)
        }
        return found.values.sorted { $0.time < $1.time }.suffix(limit).map(\.payload)
    }

    private static func eventType(of payload: String) -> String? {
        struct Typed: Decodable { var type: String }
        return try? JSONDecoder().decode(Typed.self, from: Data(payload.utf8)).type
    }
}
