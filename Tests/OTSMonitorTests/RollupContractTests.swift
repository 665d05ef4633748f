import Foundation
import Logging
import OTSCore
import OTSStore
import OTSTestSupport
import SQLKit
import Testing

@testable import OTSMonitor

/// The statistics the monitor answers from its rollups are those the raw
/// events give (counts exactly, durations within the histogram's error),
/// on both engines, for several windows and scopes; and they survive a
/// batch stored twice, compaction, the raw events' pruning and a rebuild.
@Suite(.timeLimit(.minutes(5))) struct RollupContractTests {
    /// A farm's events over two hours, from a seed: two device groups,
    /// four workers, testruns with tasks, device tries, packages, failures.
    struct Farm {
        var events: [MonitorEvent] = []
        let start: Date

        init(start: Date, testruns: Int = 40) {
            self.start = start
            var random = SplitMix64(seed: 11)
            let workers = [("g1", "rack/a"), ("g1", "rack/b"), ("g2", "rack/c"), ("g2", "lab/d")]
            let server = MonitorEvent.Sender(host: "srv", instance: "server", pid: 1, version: "1")
            for number in 0..<testruns {
                let (group, worker) = workers[Int(random.next() % 4)]
                let testrun = UUID().uuidString.lowercased()
                let task = UUID().uuidString.lowercased()
                // Spread over 118 minutes, so that several windows cut through them.
                var at = start.addingTimeInterval(Double(number) * 177 + Double(random.next() % 60))
                func add(_ type: EventType, from sender: MonitorEvent.Sender, _ change: (inout MonitorEvent) -> Void = { _ in }) {
                    var event = MonitorEvent(type: type, emittedAt: at, sender: sender, testrunID: testrun, taskID: nil)
                    event.receivedAt = at
                    change(&event)
                    events.append(event)
                    at = at.addingTimeInterval(Double(1 + random.next() % 20))
                }
                let host = String(worker.split(separator: "/")[0])
                let device = MonitorEvent.Sender(host: host, instance: String(worker.split(separator: "/")[1]), pid: 2, version: "1")
                let image = "http://images/\(number % 3).img"
                add(.testrunRequested, from: server) { $0.details = ["devicegroup": group, "image": image] }
                add(.taskQueued, from: server) { $0.taskID = task }
                add(.taskClaimed, from: server) {
                    $0.taskID = task
                    $0.attempt = 1
                    $0.details = ["worker": worker]
                    $0.durationMs = Int64(random.next() % 90_000)
                }
                add(.testrunStarted, from: server)
                let flashTries = 1 + Int(random.next() % 3)
                for attempt in 1...flashTries {
                    add(.flashFinished, from: device) {
                        $0.taskID = task
                        $0.tryNumber = attempt
                        $0.durationMs = 20_000 + Int64(random.next() % 40_000)
                        $0.outcome = attempt == flashTries ? "ok" : "failed"
                    }
                }
                add(.bootFinished, from: device) {
                    $0.taskID = task
                    $0.tryNumber = 1
                    $0.durationMs = 5_000 + Int64(random.next() % 5_000)
                }
                for package in ["alpha", "beta"] {
                    add(.packageFinished, from: device) {
                        $0.taskID = task
                        $0.package = package
                        $0.verdict = "PASS"
                        $0.durationMs = Int64(random.next() % 600_000)
                    }
                }
                var verdict = "PASS"
                if random.next() % 3 == 0 {
                    verdict = random.next() % 2 == 0 ? "FAIL" : "ERROR"
                    let (category, message): (ErrorCategory, String) =
                        verdict == "FAIL"
                        ? (.test, "step 3 of case c\(number % 4) returned 1, expected 0")
                        : (.device, "flashing failed after \(flashTries) tries on /dev/ttyUSB\(number % 5)")
                    add(.failure, from: verdict == "FAIL" ? device : server) {
                        $0.taskID = task
                        $0.error = MonitorEvent.Failure(category: category, message: message)
                        if verdict == "ERROR" { $0.details = ["worker": worker] }
                    }
                }
                add(.taskFinished, from: server) {
                    $0.taskID = task
                    $0.details = ["state": "finished", "worker": worker]
                }
                add(.testrunFinished, from: server) {
                    $0.verdict = verdict
                    $0.details = ["workers": worker]
                }
            }
            events.sort { $0.receivedAt! < $1.receivedAt! }
        }

        /// The group and the image of each testrun, as its request said.
        var requests: [String: (group: String, image: String)] {
            var requests: [String: (String, String)] = [:]
            for event in events where event.type == .testrunRequested {
                requests[event.testrunID!] = (event.details!["devicegroup"]!, event.details!["image"]!)
            }
            return requests
        }

        /// What the raw events say of a scope over `since..<until`.
        func raw(since: Date, until: Date, group: String?, worker: String?) -> (
            counts: [String: Int], phases: [String: [Double]], errors: [String: Int]
        ) {
            let requests = self.requests
            var counts: [String: Int] = [:]
            var phases: [String: [Double]] = [:]
            var errors: [String: Int] = [:]
            for event in events where event.receivedAt! >= since && event.receivedAt! < until {
                let eventGroup = requests[event.testrunID!]?.group
                if let group, eventGroup != group { continue }
                let eventWorker = RollupRules.worker(of: event)
                if event.type == .testrunFinished {
                    let workers = event.details!["workers"]!.split(separator: " ").map(String.init)
                    if let worker, !workers.contains(worker) { continue }
                    counts["verdict.\(event.verdict!)", default: 0] += 1
                    continue
                }
                if event.type == .testrunRequested {
                    if worker == nil { counts["requested", default: 0] += 1 }
                    continue
                }
                if let worker, eventWorker != worker { continue }
                switch event.type {
                case .taskClaimed: phases["queue_wait", default: []].append(Double(event.durationMs!))
                case .flashFinished, .bootFinished:
                    let phase = event.type == .flashFinished ? "flash" : "boot"
                    phases[phase, default: []].append(Double(event.durationMs!))
                    counts["\(phase).\(event.tryNumber! > 1 ? "retries" : "first")", default: 0] += 1
                case .packageFinished: phases["test", default: []].append(Double(event.durationMs!))
                case .failure:
                    counts["failures.\(event.error!.category.rawValue)", default: 0] += 1
                    errors[event.error!.signature, default: 0] += 1
                default: break
                }
            }
            return (counts, phases, errors)
        }
    }

    /// Store the events in batches as the monitor does, one batch twice.
    static func ingest(_ events: [MonitorEvent], into store: Store) async throws {
        var sequence: Int64 = 0
        let batches = stride(from: 0, to: events.count, by: 97).map { Array(events[$0..<min($0 + 97, events.count)]) }
        for (index, batch) in batches.enumerated() {
            let sequences = batch.map { _ in
                sequence += 1
                return sequence
            }
            let stored = try await store.transaction { tx in try await Ingest.store(batch, sequences: sequences, tx: tx) }
            #expect(stored.count == batch.count)
            if index == 2 {
                let again = try await store.transaction { tx in try await Ingest.store(batch, sequences: sequences, tx: tx) }
                #expect(again.isEmpty, "a batch handled again stores and counts nothing")
            }
        }
    }

    static func expectSame(_ farm: Farm, store: Store, since: Date, until: Date, group: String?, worker: String?) async throws {
        let stats = try await store.read { tx in
            try await tx.statistics(since: since, until: until, deviceGroup: group, worker: worker, commonErrors: 100)
        }
        let raw = farm.raw(since: since, until: until, group: group, worker: worker)
        let scope = "\(group ?? "*")/\(worker ?? "*") \(since)..<\(until)"
        #expect(stats.verdicts.pass == raw.counts["verdict.PASS", default: 0], "\(scope)")
        #expect(stats.verdicts.fail == raw.counts["verdict.FAIL", default: 0], "\(scope)")
        #expect(stats.verdicts.error == raw.counts["verdict.ERROR", default: 0], "\(scope)")
        if worker == nil { #expect(stats.testruns.total == raw.counts["requested", default: 0], "\(scope)") }
        for phase in ["flash", "boot"] {
            #expect(stats.retries[phase]?.phases == raw.counts["\(phase).first", default: 0], "\(scope) \(phase)")
            #expect(stats.retries[phase]?.retries == raw.counts["\(phase).retries", default: 0], "\(scope) \(phase)")
        }
        for category in ErrorCategory.allCases {
            #expect(
                stats.errorsByCategory[category.rawValue, default: 0] == raw.counts["failures.\(category.rawValue)", default: 0],
                "\(scope) \(category)")
        }
        #expect(
            Dictionary(uniqueKeysWithValues: stats.commonErrors.map { ($0.signature, $0.count) }) == raw.errors, "\(scope) errors")
        for phase in RollupRules.phases {
            let values = raw.phases[phase, default: []]
            let durations = try #require(stats.phases[phase])
            #expect(durations.count == values.count, "\(scope) \(phase)")
            let exact = Percentiles(values)
            for (got, want) in [(durations.median, exact.median), (durations.p95, exact.percentile(0.95))] {
                guard let want else {
                    #expect(got == nil)
                    continue
                }
                let seconds = want / 1000
                let got = try #require(got, "\(scope) \(phase)")
                #expect(
                    abs(got - seconds) <= seconds * LogHistogram.relativeError * 1.000001 + 1e-9, "\(scope) \(phase): \(got) for \(seconds)"
                )
            }
        }
    }

    /// Minutes from the farm's start: windows in whole minutes, as the
    /// rollups count them.
    static func minutes(_ farm: Farm, _ from: Int, _ to: Int) -> (Date, Date) {
        (farm.start.addingTimeInterval(Double(from) * 60), farm.start.addingTimeInterval(Double(to) * 60))
    }

    static let scopes: [(String?, String?)] = [(nil, nil), ("g1", nil), ("g2", nil), (nil, "rack/a"), (nil, "lab/d"), ("g2", "rack/c")]

    @Test(arguments: Engine.available)
    func theRollupsAnswerWhatTheRawEventsSay(engine: Engine) async throws {
        // A minute boundary.
        let start = Date(timeIntervalSince1970: 1_800_000_000 - 1_800_000_000.truncatingRemainder(dividingBy: 60))
        let farm = Farm(start: start)
        try await withStore(engine) { store, _ in
            try await Self.ingest(farm.events, into: store)
            for (from, to) in [(0, 130), (0, 60), (17, 43), (59, 61), (100, 101), (120, 200)] {
                let (since, until) = Self.minutes(farm, from, to)
                for (group, worker) in Self.scopes {
                    try await Self.expectSame(farm, store: store, since: since, until: until, group: group, worker: worker)
                }
            }
        }
    }

    @Test(arguments: Engine.available)
    func compactedRollupsAnswerTheSameForWholeHoursAndDays(engine: Engine) async throws {
        // The start of a day: hours and days cut the farm's two hours where the raw events do.
        let start = Date(timeIntervalSince1970: 1_800_000_000 - 1_800_000_000.truncatingRemainder(dividingBy: 86_400))
        let farm = Farm(start: start)
        try await withStore(engine) { store, _ in
            try await Self.ingest(farm.events, into: store)
            // A day later: every minute folded into hours.
            let hours = try await store.transaction { tx in try await tx.compactRollups(at: start.addingTimeInterval(86_400)) }
            #expect(hours.folded > 0)
            for (from, to) in [(0, 60), (60, 180), (0, 1440)] {
                let (since, until) = Self.minutes(farm, from, to)
                for (group, worker) in Self.scopes {
                    try await Self.expectSame(farm, store: store, since: since, until: until, group: group, worker: worker)
                }
            }
            // A week later: into days; compaction again changes nothing.
            _ = try await store.transaction { tx in try await tx.compactRollups(at: start.addingTimeInterval(7 * 86_400)) }
            let again = try await store.transaction { tx in try await tx.compactRollups(at: start.addingTimeInterval(7 * 86_400)) }
            #expect(again == RollupCompaction())
            let day = (start, start.addingTimeInterval(86_400))
            for (group, worker) in Self.scopes {
                try await Self.expectSame(farm, store: store, since: day.0, until: day.1, group: group, worker: worker)
            }
        }
    }

    @Test(arguments: Engine.available)
    func aYearOldWindowStillAnswersAfterTheRawEventsArePruned(engine: Engine) async throws {
        let start = Date(timeIntervalSince1970: 1_800_000_000 - 1_800_000_000.truncatingRemainder(dividingBy: 86_400))
        let farm = Farm(start: start)
        try await withStore(engine) { store, _ in
            try await Self.ingest(farm.events, into: store)
            let yearLater = start.addingTimeInterval(360 * 86_400)
            _ = try await store.transaction { tx in try await tx.compactRollups(at: yearLater) }
            // The raw events' retention (90 days) takes them all, a page at a time.
            let cut = yearLater.addingTimeInterval(-90 * 86_400)
            var pruned = 0
            while true {
                let page = try await store.transaction { tx in try await tx.pruneEvents(before: cut, limit: 100) }
                if page == 0 { break }
                #expect(page <= 100)
                pruned += page
            }
            #expect(pruned == farm.events.count)
            let left = try await store.read { tx in
                try await tx.db.raw("SELECT COUNT(*) AS n FROM events").first()?.decode(column: "n", as: Int.self)
            }
            #expect(left == 0)
            let window = try StatisticsWindow.parse(window: "365d", since: nil, until: nil, now: yearLater)
            for (group, worker) in Self.scopes {
                try await Self.expectSame(farm, store: store, since: window.since, until: window.until, group: group, worker: worker)
            }
            let stats = try await store.read { tx in try await tx.statistics(since: window.since, until: window.until) }
            #expect(stats.verdicts.pass + stats.verdicts.fail + stats.verdicts.error == 40)
            // Past rollup_retention_days, they go too.
            _ = try await store.transaction { tx in try await tx.compactRollups(at: start.addingTimeInterval(401 * 86_400)) }
            let gone = try await store.read { tx in try await tx.statistics(since: window.since, until: window.until) }
            #expect(gone.verdicts.pass + gone.verdicts.fail + gone.verdicts.error == 0)
        }
    }

    @Test(arguments: Engine.available)
    func missingRollupsAreBuiltFromTheStoredEventsAndSaidSo(engine: Engine) async throws {
        let start = Date(timeIntervalSince1970: 1_800_000_000 - 1_800_000_000.truncatingRemainder(dividingBy: 60))
        let farm = Farm(start: start)
        try await withStore(engine) { store, _ in
            try await Self.ingest(farm.events, into: store)
            // As an older monitor left it: events, no rollups.
            try await store.transaction { tx in
                try await tx.clearRollups(since: nil)
                try await tx.setRollupState(RollupRebuild.built, nil)
            }
            let empty = try await store.read { tx in try await tx.statistics(since: start, until: start.addingTimeInterval(7200)) }
            #expect(empty.verdicts.pass == 0)
            let notices = LogCapture()
            var rebuild = RollupRebuild(store: store, logger: Logger(label: "test") { _ in notices })
            rebuild.pageSize = 100
            #expect(try await rebuild.needed())
            let progress = LogCapture()
            try await rebuild.runIfNeeded { done, total in progress.append("\(done)/\(total)") }
            #expect(notices.lines.contains { $0.contains("rollups are missing") }, "the monitor says what it does")
            #expect(progress.lines.last == "\(farm.events.count)/\(farm.events.count)")
            #expect(progress.lines.count > 3, "progress is shown page by page")
            #expect(try await rebuild.needed() == false)
            for (from, to) in [(0, 130), (17, 43)] {
                let (since, until) = Self.minutes(farm, from, to)
                for (group, worker) in Self.scopes {
                    try await Self.expectSame(farm, store: store, since: since, until: until, group: group, worker: worker)
                }
            }
            // A rebuild from a time on recounts that part only, once.
            try await rebuild.run(since: start.addingTimeInterval(3600))
            let (since, until) = Self.minutes(farm, 0, 130)
            try await Self.expectSame(farm, store: store, since: since, until: until, group: nil, worker: nil)
        }
    }
}

extension RollupContractTests {
    @Test(arguments: Engine.available)
    func aNewDatabaseHasItsRollupsBuiltWithoutAWord(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            let notices = LogCapture()
            let rebuild = RollupRebuild(store: store, logger: Logger(label: "test") { _ in notices })
            #expect(try await rebuild.needed(), "never built")
            try await rebuild.runIfNeeded()
            #expect(try await rebuild.needed() == false)
            #expect(notices.lines.isEmpty, "nothing was missing: \(notices.lines)")
        }
    }
}

/// Lines kept from a logger or a progress callback.
final class LogCapture: LogHandler, @unchecked Sendable {
    // Guarded by `lock`; LogHandler must be a value-semantics-free class here.
    private let lock = NSLock()
    private var kept: [String] = []
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    var lines: [String] { lock.withLock { kept } }

    func append(_ line: String) { lock.withLock { kept.append(line) } }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(
        level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String, function: String, line: UInt
    ) {
        append(message.description)
    }
}
