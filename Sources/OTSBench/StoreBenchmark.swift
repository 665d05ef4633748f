import Foundation
import OTSCore
import OTSStore
import SQLKit

/// Measures the store's queues on one engine, beside the raw bulk INSERT
/// rate of the same rows on the same engine in the same run (the ceiling).
public struct StoreBenchmark: Sendable {
    public var tasks: Int
    public var workers: Int
    public var events: Int
    /// Routing key of the benchmark's tasks; processes that share a key
    /// compete for the same tasks.
    public var routingKey: String

    public init(tasks: Int = 2000, workers: Int = 8, events: Int = 20000, routingKey: String = "bench") {
        self.tasks = tasks
        self.workers = workers
        self.events = events
        self.routingKey = routingKey
    }

    public struct Report: Sendable {
        public var rawTaskInsertsPerSecond: Double
        public var taskCyclesPerSecond: Double
        public var tasksClaimedByMe: Int
        public var rawEventInsertsPerSecond: Double
        public var eventAppendsPerSecond: Double
        public var eventConsumesPerSecond: Double
    }

    /// Runs every measurement. Progress goes to `progress`.
    public func run(on store: Store, progress: @Sendable (String) -> Void = { _ in }) async throws -> Report {
        let testrun = "bench-" + UUID().uuidString.lowercased()
        try await store.transaction { tx in
            try await tx.insertTestrun(id: testrun, request: "{}", deviceGroup: routingKey, state: .queued)
        }

        progress("raw bulk INSERT of \(tasks) task rows")
        let rawTasks = try await timed {
            try await store.transaction { tx in
                for chunk in stride(from: 0, to: tasks, by: 100) {
                    var query = SQLQueryString(
                        "INSERT INTO tasks (id, testrun_id, sequence, routing_key, work, state, priority, attempts, enqueued_at) VALUES "
                    )
                    for n in chunk..<min(chunk + 100, tasks) {
                        if n > chunk { query.appendInterpolation(unsafeRaw: ", ") }
                        let row: SQLQueryString =
                            "(\(bind: "raw-\(testrun)-\(n)"), \(bind: testrun), \(bind: n), 'raw-bench', '{}', 'done', 0, 0, \(bind: Clock.millis()))"
                        query.appendInterpolation(row)
                    }
                    try await tx.db.raw(query).run()
                }
            }
        }

        progress("enqueue → claim → complete of \(tasks) tasks by \(workers) workers")
        let owner = "bench-\(ProcessInfo.processInfo.processIdentifier)"
        let (cycle, claimed) = try await timedValue {
            for chunk in stride(from: 0, to: tasks, by: 10) {
                try await store.transaction { tx in
                    try await tx.enqueue(
                        (chunk..<min(chunk + 10, tasks)).map {
                            NewTask(testrunID: testrun, sequence: $0, routingKey: routingKey, work: "{}")
                        }
                    )
                }
            }
            return try await withThrowingTaskGroup(of: Int.self) { group in
                for worker in 0..<workers {
                    group.addTask {
                        var count = 0
                        while let task = try await store.transaction({
                            try await $0.claim(owner: "\(owner)-\(worker)", routingKeys: [routingKey], lease: .seconds(300))
                        }) {
                            _ = try await store.transaction {
                                try await $0.finish(taskID: task.id, owner: "\(owner)-\(worker)", state: .finished, verdict: "PASS")
                            }
                            count += 1
                        }
                        return count
                    }
                }
                return try await group.reduce(0, +)
            }
        }

        progress("raw bulk INSERT of \(events) queue rows")
        let payload = String(repeating: "x", count: 200)
        let rawEvents = try await timed {
            try await store.transaction { tx in
                for chunk in stride(from: 0, to: events, by: 100) {
                    var query = SQLQueryString("INSERT INTO monitor_queue (event_id, appended_at, payload) VALUES ")
                    for n in chunk..<min(chunk + 100, events) {
                        if n > chunk { query.appendInterpolation(unsafeRaw: ", ") }
                        let row: SQLQueryString = "(\(bind: "raw-\(testrun)-\(n)"), \(bind: Clock.millis()), \(bind: payload))"
                        query.appendInterpolation(row)
                    }
                    try await tx.db.raw(query).run()
                }
            }
        }
        try await store.transaction { tx in
            try await tx.db.raw("DELETE FROM monitor_queue WHERE event_id LIKE \(bind: "raw-\(testrun)-%")").run()
        }

        progress("append of \(events) events in batches of 50")
        let appends = try await timed {
            for chunk in stride(from: 0, to: events, by: 50) {
                try await store.transaction { tx in
                    try await tx.append((chunk..<min(chunk + 50, events)).map { (id: "\(testrun)-\($0)", payload: payload) })
                }
            }
        }

        progress("consume of \(events) events in batches of 500")
        let consumer = "bench-" + UUID().uuidString.lowercased()
        let (consumes, consumed) = try await timedValue {
            var seen = 0
            while true {
                let count = try await store.consume(consumer: consumer, limit: 500) { _, _ in }
                if count == 0 { break }
                seen += count
            }
            return seen
        }

        return Report(
            rawTaskInsertsPerSecond: Double(tasks) / rawTasks,
            taskCyclesPerSecond: Double(tasks) / cycle,
            tasksClaimedByMe: claimed,
            rawEventInsertsPerSecond: Double(events) / rawEvents,
            eventAppendsPerSecond: Double(events) / appends,
            eventConsumesPerSecond: Double(consumed) / consumes
        )
    }

    private func timed(_ work: () async throws -> Void) async throws -> Double {
        try await timedValue(work).0
    }

    private func timedValue<T>(_ work: () async throws -> T) async throws -> (Double, T) {
        let start = ContinuousClock.now
        let value = try await work()
        let elapsed = ContinuousClock.now - start
        return (elapsed / .seconds(1), value)
    }
}
