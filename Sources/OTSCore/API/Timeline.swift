import Foundation

/// A testrun's phases in time, from its events: how long each task waited,
/// flashed (each try), booted, tested (each package) and reported.
public struct Timeline: Sendable, Hashable, Codable {
    public struct Phase: Sendable, Hashable, Codable {
        public var task: String?
        public var attempt: Int?
        /// queue, flash, boot, test, results, task, testrun.
        public var phase: String
        /// The try (device phases) or the package (test).
        public var detail: String?
        public var start: Date
        public var end: Date?
        public var seconds: Double?
        public var outcome: String?

        public init(
            task: String?, attempt: Int?, phase: String, detail: String?, start: Date, end: Date?, outcome: String?
        ) {
            self.task = task
            self.attempt = attempt
            self.phase = phase
            self.detail = detail
            self.start = start
            self.end = end
            self.seconds = end.map { $0.timeIntervalSince(start) }
            self.outcome = outcome
        }
    }

    public var testrunID: String
    public var phases: [Phase]

    enum CodingKeys: String, CodingKey {
        case testrunID = "testrun_id"
        case phases
    }

    public init(testrunID: String, phases: [Phase]) {
        self.testrunID = testrunID
        self.phases = phases
    }

    /// Pairs each phase's start and end event (in the order given), timed
    /// by the sender's clock; a phase still running has no end.
    public init(testrunID: String, events: [MonitorEvent]) {
        struct Key: Hashable {
            var task: String?
            var phase: String
            var detail: String?
        }
        let pairs: [EventType: (phase: String, starts: Bool)] = [
            .testrunRequested: ("testrun", true), .testrunFinished: ("testrun", false), .testrunCancelled: ("testrun", false),
            .taskQueued: ("queue", true), .taskRequeued: ("queue", true), .taskClaimed: ("queue", false),
            .taskStarted: ("task", true), .taskFinished: ("task", false),
            .flashStarted: ("flash", true), .flashFinished: ("flash", false),
            .bootStarted: ("boot", true), .bootFinished: ("boot", false),
            .packageStarted: ("test", true), .packageFinished: ("test", false),
            .resultsStarted: ("results", true), .resultsFinished: ("results", false),
        ]
        var open: [Key: Int] = [:]
        var phases: [Phase] = []
        for event in events {
            guard let (phase, starts) = pairs[event.type] else { continue }
            // The sender's clock: a phase starts and ends on one sender, so
            // its length is exact even when its events reached the server
            // together in one batch (as workers send them).
            let when = event.emittedAt
            let detail: String? =
                switch phase {
                case "flash", "boot": event.tryNumber.map { "try \($0)" }
                case "test": event.package
                default: nil
                }
            // A testrun's own events have no task; results end once per task.
            let key = Key(task: phase == "testrun" ? nil : event.taskID, phase: phase, detail: phase == "results" ? nil : detail)
            if starts {
                open[key] = phases.count
                phases.append(
                    Phase(task: key.task, attempt: event.attempt, phase: phase, detail: detail, start: when, end: nil, outcome: nil))
            } else if let index = open.removeValue(forKey: key) {
                var finished = phases[index]
                finished = Phase(
                    task: finished.task, attempt: finished.attempt ?? event.attempt, phase: phase, detail: finished.detail,
                    start: finished.start, end: when, outcome: event.outcome ?? event.verdict ?? event.details?["state"])
                phases[index] = finished
            }
        }
        self.init(testrunID: testrunID, phases: phases)
    }
}
