import Foundation
import NIOHTTP1
import OTSCore

extension OTSClient {
    /// Stored events, oldest first (a monitor's API).
    public func events(testrun: String? = nil, worker: String? = nil, type: String? = nil, since: Date? = nil, limit: Int = 1000)
        async throws(ClientError) -> [MonitorEvent]
    {
        var query = [("limit", String(limit))]
        if let testrun { query.append(("testrun", testrun)) }
        if let worker { query.append(("worker", worker)) }
        if let type { query.append(("type", type)) }
        if let since { query.append(("since", since.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)))) }
        let batch: EventBatch = try await call(.GET, "events", query: query)
        return batch.events
    }

    /// The workers a monitor knows, with their liveness.
    public func workers() async throws(ClientError) -> WorkerList {
        try await call(.GET, "workers")
    }

    /// The farm over a window (`90s`, `30m`, `24h`, `7d`), or from `since`
    /// to `until` (ISO 8601) instead.
    public func statistics(
        window: String? = nil, since: String? = nil, until: String? = nil, deviceGroup: String? = nil, worker: String? = nil
    ) async throws(ClientError) -> Statistics {
        var query = Self.window(window, since: since, until: until)
        if let deviceGroup { query.append(("devicegroup", deviceGroup)) }
        if let worker { query.append(("worker", worker)) }
        return try await call(.GET, "stats", query: query)
    }

    /// The most common errors over a window, or from `since` to `until`.
    public func commonErrors(
        window: String? = nil, since: String? = nil, until: String? = nil, deviceGroup: String? = nil, worker: String? = nil,
        limit: Int = 20
    ) async throws(ClientError) -> [Statistics.CommonError] {
        var query = Self.window(window, since: since, until: until) + [("limit", String(limit))]
        if let deviceGroup { query.append(("devicegroup", deviceGroup)) }
        if let worker { query.append(("worker", worker)) }
        let answer: [String: [Statistics.CommonError]] = try await call(.GET, "errors", query: query)
        return answer["errors"] ?? []
    }

    static func window(_ window: String?, since: String?, until: String?) -> [(String, String)] {
        [("window", window), ("since", since), ("until", until)].compactMap { name, value in value.map { (name, $0) } }
    }

    /// A testrun's phases in time.
    public func timeline(testrun: String) async throws(ClientError) -> Timeline {
        try await call(.GET, "testruns/\(Self.segment(testrun))/timeline")
    }

    /// How far behind the queue a monitor is.
    public func monitorStatus() async throws(ClientError) -> MonitorStatus {
        try await call(.GET, "monitor")
    }
}
