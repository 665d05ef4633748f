import Foundation
import OTSCore
import OTSMonitor
import OTSStore

/// Measures the monitor's statistics over a large event store. Fills it
/// through the monitor's own store path (`Ingest.store`: the events, the
/// testruns they tell of, the history and the rollups, as production
/// builds them) with a farm's worth of events spread over the days before
/// now, compacts the rollups as the monitor does, then times each query
/// the statistics answer: the whole farm, one device group, one worker,
/// the most common errors, a 365-day window, and the rollups behind a
/// worker's and an error's dashboard page. Several sizes fill one store in
/// turn, each measured when reached.
public struct StatisticsBenchmark: Sendable {
    public var sizes: [Int]
    public var repetitions: Int

    public init(sizes: [Int] = [1_000_000], repetitions: Int = 20) {
        self.sizes = sizes.sorted()
        self.repetitions = repetitions
    }

    public struct Query: Sendable, Codable {
        public var name: String
        public var medianSeconds: Double
        public var p95Seconds: Double

        enum CodingKeys: String, CodingKey {
            case name
            case medianSeconds = "median_seconds"
            case p95Seconds = "p95_seconds"
        }
    }

    public struct Run: Sendable, Codable {
        public var events: Int
        public var fillSeconds: Double
        public var queries: [Query]

        enum CodingKeys: String, CodingKey {
            case events
            case fillSeconds = "fill_seconds"
            case queries
        }
    }

    static let groups = ["phones", "tablets", "watches", "cars"]
    static let workers = (1...100).map { "rack\($0 / 10)/dut\($0)" }
    /// A farm of a hundred devices stores a million events in about a week.
    static let eventsPerDay = 150_000

    public func run(on store: Store, now: Date = Date(), progress: @Sendable (String) -> Void = { _ in }) async throws -> [Run] {
        var runs: [Run] = []
        var filler = Filler(now: now, days: max(1, Double(sizes.last ?? 1) / Double(Self.eventsPerDay)))
        let clock = ContinuousClock()
        var fillTime = Duration.zero
        for size in sizes {
            let start = clock.now
            try await filler.fill(upTo: size, store: store, progress: progress)
            _ = try await store.transaction { tx in try await tx.compactRollups(at: now) }
            fillTime += clock.now - start
            progress("\(size) events stored; measuring")
            runs.append(Run(events: size, fillSeconds: fillTime / .seconds(1), queries: try await measure(store, now: now)))
        }
        return runs
    }

    private func measure(_ store: Store, now: Date) async throws -> [Query] {
        let day = now.addingTimeInterval(-86_400)
        let year = now.addingTimeInterval(-365 * 86_400)
        let worker = Self.workers[7]
        let signature = try await store.read { tx in
            try await tx.rollupErrors(since: day, until: now, limit: 1).first?.signature
        }
        let queries: [(String, @Sendable (StoreTransaction) async throws -> Void)] = [
            ("farm_24h", { _ = try await $0.statistics(since: day, until: now) }),
            ("device_group_24h", { _ = try await $0.statistics(since: day, until: now, deviceGroup: Self.groups[0]) }),
            ("worker_24h", { _ = try await $0.statistics(since: day, until: now, worker: worker) }),
            ("common_errors_24h", { _ = try await $0.rollupErrors(since: day, until: now, limit: 20) }),
            (
                "worker_page_7d",
                { tx in
                    let host = Self.workers.filter { $0.hasPrefix("rack0/") }
                    let week = now.addingTimeInterval(-7 * 86_400)
                    _ = try await tx.tries(workers: host, since: week, until: now)
                    _ = try await tx.healthStatistics(since: week, until: now, workers: host)
                }
            ),
            ("error_page", { _ = try await $0.occurrences(signature: signature ?? "", now: now) }),
            ("farm_365d", { _ = try await $0.statistics(since: year, until: now) }),
        ]
        let clock = ContinuousClock()
        var results: [Query] = []
        for (name, query) in queries {
            var seconds: [Double] = []
            for _ in 0..<repetitions {
                let start = clock.now
                try await store.read { tx in try await query(tx) }
                seconds.append((clock.now - start) / .seconds(1))
            }
            let percentiles = Percentiles(seconds)
            results.append(Query(name: name, medianSeconds: percentiles.median ?? 0, p95Seconds: percentiles.percentile(0.95) ?? 0))
        }
        return results
    }

    /// Makes a farm's events, testrun by testrun, in time order over the
    /// days before `now`, and stores them in monitor batches.
    struct Filler {
        let now: Date
        let days: Double
        var written = 0
        var sequence: Int64 = 0
        var testrun = 0
        var random = SystemRandomNumberGenerator()

        init(now: Date, days: Double) {
            self.now = now
            self.days = days
        }

        /// About 60 events: a testrun of 4 packages on one device, with
        /// heartbeats, cases, tries, sometimes a failure.
        mutating func testrunEvents(at start: Date) -> [MonitorEvent] {
            testrun += 1
            let group = StatisticsBenchmark.groups[testrun % StatisticsBenchmark.groups.count]
            let worker = StatisticsBenchmark.workers[testrun % StatisticsBenchmark.workers.count]
            let parts = worker.split(separator: "/")
            let device = MonitorEvent.Sender(host: String(parts[0]), instance: String(parts[1]), pid: 2, version: "bench")
            let server = MonitorEvent.Sender(host: "server", instance: "server", pid: 1, version: "bench")
            let id = UUID().uuidString.lowercased()
            let task = UUID().uuidString.lowercased()
            var at = start
            var events: [MonitorEvent] = []
            func add(_ type: EventType, _ sender: MonitorEvent.Sender, _ change: (inout MonitorEvent) -> Void = { _ in }) {
                var event = MonitorEvent(type: type, emittedAt: at, sender: sender, testrunID: id)
                event.receivedAt = at
                change(&event)
                events.append(event)
                at = at.addingTimeInterval(0.5)
            }
            add(.testrunRequested, server) { $0.details = ["devicegroup": group, "image": "http://images/\(self.testrun % 20).img"] }
            add(.taskQueued, server) { $0.taskID = task }
            let wait = Int64(random.next() % 120_000)
            add(.taskClaimed, server) {
                $0.taskID = task
                $0.durationMs = wait
                $0.details = ["worker": worker]
            }
            let retry = random.next() % 10 == 0
            for attempt in 1...(retry ? 2 : 1) {
                add(.flashFinished, device) {
                    $0.taskID = task
                    $0.tryNumber = attempt
                    $0.durationMs = 30_000 + Int64(self.random.next() % 30_000)
                }
            }
            add(.bootFinished, device) {
                $0.taskID = task
                $0.tryNumber = 1
                $0.durationMs = 10_000 + Int64(self.random.next() % 10_000)
            }
            for package in 0..<4 {
                for number in 0..<8 {
                    add(.caseFinished, device) {
                        $0.taskID = task
                        $0.package = "package-\(package)"
                        $0.testCase = "case-\(number)"
                        $0.verdict = "PASS"
                    }
                }
                add(.packageFinished, device) {
                    $0.taskID = task
                    $0.package = "package-\(package)"
                    $0.verdict = "PASS"
                    $0.durationMs = Int64(self.random.next() % 600_000)
                }
            }
            for _ in 0..<12 { add(.workerHeartbeat, device) }
            add(.taskStarted, device) { $0.taskID = task }
            var verdict = "PASS"
            if random.next() % 5 == 0 {
                verdict = random.next() % 2 == 0 ? "FAIL" : "ERROR"
                let kind = Int(random.next() % 40)
                add(.failure, device) {
                    $0.taskID = task
                    $0.error = MonitorEvent.Failure(
                        category: [.device, .test, .user, .infrastructure, .image][kind % 5],
                        message: "flash of /dev/sdb\(kind) failed after \(kind % 3 + 1) tries (rc=\(kind))")
                }
            }
            add(.taskFinished, server) {
                $0.taskID = task
                $0.details = ["state": "finished", "worker": worker]
            }
            add(.testrunFinished, server) {
                $0.verdict = verdict
                $0.details = ["workers": worker]
            }
            return events
        }

        mutating func fill(upTo size: Int, store: Store, progress: @Sendable (String) -> Void) async throws {
            let span = days * 86_400
            var pending: [MonitorEvent] = []
            var reported = written
            while written < size {
                while pending.count < 5000 {
                    // Testruns in time order across the span, ending now.
                    let start = now.addingTimeInterval(-span + span * Double(written + pending.count) / Double(size))
                    pending += testrunEvents(at: start)
                }
                let batch = Array(pending.prefix(min(5000, size - written)))
                pending.removeFirst(batch.count)
                let sequences = batch.map { _ in
                    sequence += 1
                    return sequence
                }
                _ = try await store.transaction { tx in try await Ingest.store(batch, sequences: sequences, tx: tx) }
                written += batch.count
                // The monitor folds its minutes as time goes by (once a
                // minute); the fill's time goes by far faster, so it folds
                // them every 100,000 events, at the time it has reached.
                if written % 100_000 < batch.count, let reached = batch.last?.receivedAt {
                    _ = try await store.transaction { tx in try await tx.compactRollups(at: reached) }
                }
                if written - reported >= 500_000 || written == size {
                    progress("\(written) events stored")
                    reported = written
                }
            }
        }
    }
}
