import Foundation
import Logging
import OTSCore
import OTSStore
import OTSTestSupport
import Testing

@testable import OTSMonitor

/// What the monitor makes of the events it takes off the queue: history of
/// run times, metrics, each counted once however often a batch is handled.
@Suite struct IngestTests {
    static var logger: Logger { TestStore.logger }

    let start = Date(timeIntervalSince1970: 1_800_000_000)

    func withStore(_ body: (Store) async throws -> Void) async throws {
        try await TestStore.with(body)
    }

    func event(_ type: EventType, testrun: String? = nil, _ change: (inout MonitorEvent) -> Void = { _ in }) -> MonitorEvent {
        var event = MonitorEvent(type: type, emittedAt: start, sender: .init(host: "rack", instance: "a1", pid: 7), testrunID: testrun)
        event.receivedAt = start
        change(&event)
        return event
    }

    func append(_ events: [MonitorEvent], to store: Store) async throws {
        try await store.transaction { tx in try await tx.append(try events.map { ($0.id, try JSONCoding.string($0)) }) }
    }

    @Test func packagesAndSetsOfAKnownTestrunBecomeHistoryOnce() async throws {
        try await withStore { store in
            // The monitor knows a testrun's device group from its request.
            let events = [
                event(.testrunRequested, testrun: "t1") { $0.details = ["devicegroup": "phones"] },
                event(.setFinished, testrun: "t1") {
                    $0.package = "p"
                    $0.set = "s1"
                    $0.durationMs = 400
                    $0.verdict = "PASS"
                },
                event(.packageFinished, testrun: "t1") {
                    $0.package = "p"
                    $0.durationMs = 1500
                    $0.verdict = "FAIL"
                    $0.details = ["keep_whole": "true"]
                },
                // No duration: nothing to learn from.
                event(.packageFinished, testrun: "t1") {
                    $0.package = "q"
                    $0.verdict = "PASS"
                },
                // A testrun the monitor was not told of has no device group.
                event(.packageFinished, testrun: "elsewhere") {
                    $0.package = "p"
                    $0.durationMs = 9
                    $0.verdict = "PASS"
                },
            ]
            try await append(events + events, to: store)
            let ingest = Ingest(store: store, configuration: MonitorConfiguration(), logger: Self.logger)
            #expect(try await ingest.next(at: start) == 10)
            let history = try await store.transaction { tx in
                try await tx.historyRuns(deviceGroup: "phones", packages: ["p", "q"]).map(\.record)
            }
            #expect(history.count == 2, "\(history)")
            let set = try #require(history.first { $0.setName == "s1" })
            #expect(set.duration == .milliseconds(400))
            #expect(set.verdict == "PASS")
            #expect(!set.keepWhole)
            let package = try #require(history.first { $0.setName == nil })
            #expect(package.duration == .milliseconds(1500))
            #expect(package.verdict == "FAIL")
            #expect(package.keepWhole)
            #expect(package.testrunID == "t1")
            #expect(package.finishedAt == start)
        }
    }

    @Test func metricsCountEachStoredEventOnce() async throws {
        try await withStore { store in
            try await store.transaction { tx in
                for (name, state) in [("a1", "free"), ("a2", "offline")] {
                    try await tx.upsertWorker(
                        WorkerRecord(
                            host: "rack", instanceName: name, version: "1", deviceGroup: "phones", state: state, lastHeartbeat: start,
                            registeredAt: start, pid: 1))
                }
            }
            let events = [
                event(.testrunFinished, testrun: "t1") { $0.verdict = "PASS" },
                event(.flashFinished) {
                    $0.outcome = "ok"
                    $0.durationMs = 2000
                },
                event(.flashFinished) { $0.outcome = "failed" },
                event(.bootFinished) { $0.outcome = "timeout" },
                event(.packageFinished) { $0.durationMs = 1500 },
                event(.workerRefused) { $0.details = ["reason": "sender"] },
            ]
            // The same batch twice, as after a crash before the cursor moved.
            try await append(events + events, to: store)
            let metrics = MonitorMetrics()
            let ingest = Ingest(store: store, configuration: MonitorConfiguration(), logger: Self.logger, metrics: metrics)
            #expect(try await ingest.next(at: start) == 12)
            let text = String(decoding: try await metrics.exposition(store: store, consumer: "monitor", at: start), as: UTF8.self)
            for line in [
                #"ots_testruns_total{verdict="PASS"} 1"#, #"ots_testruns_total{verdict="FAIL"} 0"#,
                #"ots_attempts_total{phase="flash",outcome="ok"} 1"#, #"ots_attempts_total{phase="flash",outcome="failed"} 1"#,
                #"ots_attempts_total{phase="boot",outcome="failed"} 1"#, #"ots_attempts_total{phase="boot",outcome="ok"} 0"#,
                #"ots_phase_duration_seconds_count{phase="flash"} 1"#, #"ots_phase_duration_seconds_count{phase="test"} 1"#,
                #"ots_events_refused_total{reason="sender"} 1"#, #"ots_events_refused_total{reason="type"} 0"#,
                #"ots_workers{state="free"} 1.0"#, #"ots_workers{state="offline"} 1.0"#, #"ots_workers{state="busy"} 0.0"#,
                #"ots_workers{state="online"} 0.0"#,
                "ots_monitor_backlog_events 0.0",
            ] {
                #expect(text.contains(line + "\n"), "\(line)\n\(text)")
            }
        }
    }
}
