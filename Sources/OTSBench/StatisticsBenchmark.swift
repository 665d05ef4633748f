import Foundation
import OTSStore
import SQLKit

/// Measures the monitor's statistics over a large event store: fills it
/// with a farm's worth of events (a realistic mix of types, failures with
/// a few dozen signatures, durations, device groups, workers), then times
/// the statistics query for the whole farm and for one device group.
public struct StatisticsBenchmark: Sendable {
    public var events: Int
    public var repetitions: Int

    public init(events: Int = 1_000_000, repetitions: Int = 5) {
        self.events = events
        self.repetitions = repetitions
    }

    public struct Report: Sendable {
        public var fillSeconds: Double
        public var farm: [Double]
        public var deviceGroup: [Double]
        public var worker: [Double]
    }

    /// The kinds of events, by share of the total.
    static let mix: [(type: String, share: Int)] = [
        ("worker.heartbeat", 40), ("test.case.finished", 25), ("test.set.finished", 5), ("test.package.finished", 5),
        ("device.flash.finished", 5), ("device.boot.finished", 5), ("task.claimed", 3), ("testrun.finished", 2), ("failure", 10),
    ]

    public func run(on store: Store, progress: @Sendable (String) -> Void = { _ in }) async throws -> Report {
        let now = Date()
        let groups = ["phones", "tablets", "watches", "cars"]
        let workers = (1...40).map { "rack\($0 / 10)/dut\($0)" }
        let clock = ContinuousClock()
        let fillStart = clock.now
        let testruns = max(1, events / 100)
        try await store.transaction { tx in
            for chunk in stride(from: 0, to: testruns, by: 500) {
                var query = SQLQueryString(
                    "INSERT INTO testruns (id, request, device_group, state, verdict, priority, created_at, updated_at, finished_at) VALUES "
                )
                for n in chunk..<min(chunk + 500, testruns) {
                    if n > chunk { query.appendInterpolation(unsafeRaw: ", ") }
                    let at = Clock.millis(now) - Int64(n % 86_400) * 1000
                    let verdict = ["PASS", "PASS", "PASS", "FAIL", "ERROR"][n % 5]
                    let row: SQLQueryString =
                        "(\(bind: "bench-\(n)"), '{}', \(bind: groups[n % groups.count]), 'finished', \(bind: verdict), 0, \(bind: at), \(bind: at), \(bind: at))"
                    query.appendInterpolation(row)
                }
                try await tx.db.raw(query).run()
            }
        }
        var generator = SystemRandomNumberGenerator()
        var written = 0
        var sequence: Int64 = 0
        while written < events {
            try await store.transaction { tx in
                for _ in 0..<10 where written < events {
                    var query = SQLQueryString(
                        "INSERT INTO events (id, type, emitted_at, received_at, testrun_id, worker, signature, payload, seq, category, duration_ms, try_number, device_group) VALUES "
                    )
                    let rows = min(500, events - written)
                    for index in 0..<rows {
                        if index > 0 { query.appendInterpolation(unsafeRaw: ", ") }
                        sequence += 1
                        var pick = Int(sequence % 100)
                        var type = Self.mix[0].type
                        for (candidate, share) in Self.mix {
                            if pick < share {
                                type = candidate
                                break
                            }
                            pick -= share
                        }
                        let testrun = Int(sequence) % testruns
                        let at = Clock.millis(now) - Int64(generator.next() % 86_400_000)
                        let failure = type == "failure"
                        let signature = failure ? "flash of <path> failed after <n> tries (rc=<n>) #\(sequence % 40)" : nil
                        let category = failure ? ["device", "test", "user", "infrastructure", "image"][Int(sequence % 5)] : nil
                        let duration: Int64? =
                            type.hasSuffix(".finished") && type != "testrun.finished" ? Int64(generator.next() % 600_000) : nil
                        let tryNumber: Int? = type.hasPrefix("device.") ? (sequence % 10 == 0 ? 2 : 1) : nil
                        let payload = failure ? #"{"error":{"message":"flash of /dev/sdb failed after 3 tries (rc=7)"}}"# : "{}"
                        let row: SQLQueryString =
                            "(\(bind: "e\(sequence)"), \(bind: type), \(bind: at), \(bind: at), \(bind: "bench-\(testrun)"), \(bind: workers[Int(sequence) % workers.count]), \(bind: signature), \(bind: payload), \(bind: sequence), \(bind: category), \(bind: duration), \(bind: tryNumber), \(bind: groups[testrun % groups.count]))"
                        query.appendInterpolation(row)
                    }
                    try await tx.db.raw(query).run()
                    written += rows
                }
            }
            if written % 100_000 == 0 { progress("\(written) events stored") }
        }
        let fill = clock.now - fillStart

        func timed(_ deviceGroup: String?, _ worker: String?) async throws -> [Double] {
            var seconds: [Double] = []
            for _ in 0..<repetitions {
                let start = clock.now
                _ = try await store.read { tx in
                    try await tx.statistics(since: now.addingTimeInterval(-86_400), until: now, deviceGroup: deviceGroup, worker: worker)
                }
                let elapsed = clock.now - start
                seconds.append(elapsed / .seconds(1))
            }
            return seconds.sorted()
        }
        progress("statistics of the whole farm")
        let farm = try await timed(nil, nil)
        progress("statistics of one device group")
        let group = try await timed("phones", nil)
        progress("statistics of one worker")
        let one = try await timed(nil, workers[0])
        return Report(
            fillSeconds: fill / .seconds(1), farm: farm, deviceGroup: group,
            worker: one)
    }
}
