import Foundation

/// Something that happened in the farm, as the monitor hears it. Every step
/// of a testrun emits one; they travel on the monitor queue.
///
/// Fields that do not apply are nil and left out of the JSON.
public struct MonitorEvent: Sendable, Hashable, Codable {
    /// Who sent an event: never just a host name.
    public struct Sender: Sendable, Hashable, Codable {
        public var host: String
        /// The worker instance, or the component (`server`).
        public var instance: String
        public var pid: Int32
        public var version: String

        public init(
            host: String, instance: String, pid: Int32 = ProcessInfo.processInfo.processIdentifier, version: String = OTSVersion.current
        ) {
            self.host = host
            self.instance = instance
            self.pid = pid
            self.version = version
        }

        /// The worker id it names (`host/instance`), as the server knows
        /// the instance.
        public var workerID: String { "\(host)/\(instance)" }

        /// The instance names of OTS's own components, which no worker
        /// instance may take.
        public static let components: Set<String> = ["server", "monitor"]

        /// This process, as the named component.
        public static func this(_ instance: String) -> Sender {
            Sender(host: ProcessInfo.processInfo.hostName, instance: instance)
        }
    }

    /// An error, with who must act on it and its signature.
    public struct Failure: Sendable, Hashable, Codable {
        public var category: ErrorCategory
        public var message: String
        public var signature: String

        public init(category: ErrorCategory, message: String) {
            self.category = category
            self.message = message
            self.signature = ErrorSignature(message).text
        }

        enum CodingKeys: String, CodingKey { case category, message, signature }

        /// A sender need not give the signature; the server computes it anew.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            category = try container.decode(ErrorCategory.self, forKey: .category)
            message = try container.decode(String.self, forKey: .message)
            signature = try container.decodeIfPresent(String.self, forKey: .signature) ?? ErrorSignature(message).text
        }
    }

    public var id: String
    public var type: EventType
    /// The version of the payload of this type.
    public var version: Int
    public var emittedAt: Date
    /// Set by the server when it accepts the event.
    public var receivedAt: Date?
    public var sender: Sender
    public var testrunID: String?
    public var taskID: String?
    public var attempt: Int?
    public var package: String?
    public var set: String?
    public var testCase: String?
    public var verdict: String?
    /// Milliseconds the thing took.
    public var durationMs: Int64?
    /// For device phases: the try (from 1).
    public var tryNumber: Int?
    /// For device phases and results: `ok` or `failed`.
    public var outcome: String?
    public var error: Failure?
    /// More about it (a worker's state, a queue's size), type specific.
    public var details: [String: String]?

    enum CodingKeys: String, CodingKey {
        case id, type, version
        case emittedAt = "emitted_at"
        case receivedAt = "received_at"
        case sender
        case testrunID = "testrun_id"
        case taskID = "task_id"
        case attempt, package, set
        case testCase = "case"
        case verdict
        case durationMs = "duration_ms"
        case tryNumber = "try"
        case outcome, error, details
    }

    public init(
        id: String = MonitorEvent.newID(),
        type: EventType,
        emittedAt: Date = Date(),
        sender: Sender,
        testrunID: String? = nil,
        taskID: String? = nil,
        attempt: Int? = nil
    ) {
        self.id = id
        self.type = type
        self.version = 1
        self.emittedAt = emittedAt
        self.sender = sender
        self.testrunID = testrunID
        self.taskID = taskID
        self.attempt = attempt
    }

    /// A new event id: a time-ordered UUID (version 7, RFC 9562): the
    /// milliseconds since 1970 first, then random bits. Ids made one after
    /// another sort together, so the stores' indexes on event ids (the
    /// server's received ids, the event store's key) take new ids at
    /// their end instead of in a random page each: a batch writes a few
    /// pages, not one per event.
    public static func newID(at date: Date = Date()) -> String {
        var random = SystemRandomNumberGenerator()
        let millis = UInt64(max(0, (date.timeIntervalSince1970 * 1000).rounded())) & 0xFFFF_FFFF_FFFF
        let high = random.next() as UInt64
        let low = random.next() as UInt64
        // 48 bits of time, the version (7), 12 random bits; the variant (10), 62 random bits.
        let first = millis << 16 | 0x7000 | (high & 0x0FFF)
        let second = 0x8000_0000_0000_0000 | (low & 0x3FFF_FFFF_FFFF_FFFF)
        func byte(_ value: UInt64, _ index: Int) -> UInt8 { UInt8(truncatingIfNeeded: value >> (56 - 8 * index)) }
        let uuid = UUID(
            uuid: (
                byte(first, 0), byte(first, 1), byte(first, 2), byte(first, 3), byte(first, 4), byte(first, 5), byte(first, 6),
                byte(first, 7), byte(second, 0), byte(second, 1), byte(second, 2), byte(second, 3), byte(second, 4),
                byte(second, 5), byte(second, 6), byte(second, 7)
            ))
        return uuid.uuidString.lowercased()
    }

    /// The ranges of what a sender gives, documented in docs/events.md.
    public enum Limits {
        /// `duration_ms`: up to 365 days.
        public static let durationMs: ClosedRange<Int64> = 0...31_536_000_000
        /// `try`: a device phase's try, from 1.
        public static let tryNumber: ClosedRange<Int> = 1...1000
        /// `attempt`: a task's attempt, from 1.
        public static let attempt: ClosedRange<Int> = 1...1000
        /// `emitted_at`: from 2000-01-01 to 9999-12-31 (UTC).
        public static let emittedAt: ClosedRange<Date> =
            Date(timeIntervalSince1970: 946_684_800)...Date(timeIntervalSince1970: 253_402_300_799)
        /// Keys and values of `details`.
        public static let details = 50
        public static let detailKeyLength = 100
        /// `outcome` of a device phase.
        public static let outcomes: Set<String> = ["ok", "failed"]
        /// `verdict` of an event: a testrun's, a package's or a case's or step's result.
        public static let verdicts: Set<String> = ["PASS", "FAIL", "ERROR", "N/A"]
    }

    /// Problems with an event as a sender gives it, each naming its field.
    public var problems: [String] {
        var problems: [String] = []
        if UUID(uuidString: id) == nil { problems.append("id: must be a UUID") }
        if let problem = type.problem { problems.append("type: \(problem)") }
        if let problem = Self.nameProblem(sender.host) { problems.append("sender.host: \(problem)") }
        if let problem = Self.nameProblem(sender.instance) { problems.append("sender.instance: \(problem)") }
        if sender.pid < 0 { problems.append("sender.pid: must be 0 or more, not \(sender.pid)") }
        if sender.version.isEmpty || sender.version.count > TestrunRequest.Limits.nameLength
            || sender.version.containsControlCharacters
        {
            problems.append("sender.version: must have 1 to \(TestrunRequest.Limits.nameLength) characters, none a control character")
        }
        if !Limits.emittedAt.contains(emittedAt) {
            problems.append("emitted_at: must be from 2000-01-01 to 9999-12-31")
        }
        for (field, value) in [("testrun_id", testrunID), ("task_id", taskID)] {
            if let value, UUID(uuidString: value) == nil { problems.append("\(field): must be a UUID") }
        }
        if let attempt, !Limits.attempt.contains(attempt) {
            problems.append("attempt: must be from \(Limits.attempt.lowerBound) to \(Limits.attempt.upperBound), not \(attempt)")
        }
        if let durationMs, !Limits.durationMs.contains(durationMs) {
            problems.append(
                "duration_ms: must be from \(Limits.durationMs.lowerBound) to \(Limits.durationMs.upperBound) (365 days), not \(durationMs)"
            )
        }
        if let tryNumber, !Limits.tryNumber.contains(tryNumber) {
            problems.append("try: must be from \(Limits.tryNumber.lowerBound) to \(Limits.tryNumber.upperBound), not \(tryNumber)")
        }
        if let outcome, !Limits.outcomes.contains(outcome) {
            problems.append("outcome: must be ok or failed")
        }
        if let verdict, !Limits.verdicts.contains(verdict) {
            problems.append("verdict: must be PASS, FAIL, ERROR or N/A")
        }
        for (field, value) in [("package", package), ("set", set), ("case", testCase), ("error.message", error?.message)] {
            if let value, value.count > TestrunRequest.Limits.textLength {
                problems.append("\(field): at most \(TestrunRequest.Limits.textLength) characters")
            }
        }
        if let details {
            if details.count > Limits.details { problems.append("details: at most \(Limits.details) entries") }
            if details.contains(where: { $0.key.isEmpty || $0.key.count > Limits.detailKeyLength }) {
                problems.append("details: a key must have 1 to \(Limits.detailKeyLength) characters")
            }
            if details.values.contains(where: { $0.count > TestrunRequest.Limits.textLength }) {
                problems.append("details: a value has at most \(TestrunRequest.Limits.textLength) characters")
            }
        }
        return problems
    }

    /// Why a host or instance name cannot be one: names become parts of
    /// worker ids, paths and log lines, so they follow the rule of device
    /// names, dots allowed (host names have them), and are never `.` or `..`.
    public static func nameProblem(_ name: String) -> String? {
        if name.isEmpty || name.count > TestrunRequest.Limits.nameLength {
            return "must have 1 to \(TestrunRequest.Limits.nameLength) characters"
        }
        if name == "." || name == ".." { return "may not be '.' or '..'" }
        guard name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) else {
            return "may hold only letters, digits, '-', '_' and '.'"
        }
        return nil
    }
}

/// The type of a monitor event: a dotted name, stable across versions.
public struct EventType: RawRepresentable, Sendable, Hashable, Codable, CustomStringConvertible, ExpressibleByStringLiteral {
    public var rawValue: String

    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public init(from decoder: any Decoder) throws { rawValue = try decoder.singleValueContainer().decode(String.self) }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    public var description: String { rawValue }

    /// Why a name cannot be an event type: dotted lower-case words.
    public var problem: String? {
        guard !rawValue.isEmpty, rawValue.count <= 100,
            rawValue.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || "._".contains($0)) })
        else { return "must have 1 to 100 characters, lower-case letters, digits, '.' and '_'" }
        return nil
    }

    /// The types a worker sends (docs/events.md); the server sends the rest.
    public static let sentByWorkers: Set<EventType> = [
        .taskStarted, .flashStarted, .flashFinished, .bootStarted, .bootFinished, .packageStarted, .packageFinished,
        .setFinished, .caseFinished, .stepFinished, .resultsStarted, .resultsFinished, .failure,
    ]

    public static let testrunRequested: EventType = "testrun.requested"
    /// How the testrun was split into tasks, and on what data.
    public static let testrunPlanned: EventType = "testrun.planned"
    public static let testrunQueued: EventType = "testrun.queued"
    public static let testrunStarted: EventType = "testrun.started"
    public static let testrunFinished: EventType = "testrun.finished"
    public static let testrunCancelled: EventType = "testrun.cancelled"
    public static let testrunTimedOut: EventType = "testrun.timed_out"

    public static let taskQueued: EventType = "task.queued"
    public static let taskClaimed: EventType = "task.claimed"
    public static let taskStarted: EventType = "task.started"
    public static let taskFinished: EventType = "task.finished"
    public static let taskRequeued: EventType = "task.requeued"
    public static let taskTimedOut: EventType = "task.timed_out"

    public static let flashStarted: EventType = "device.flash.started"
    public static let flashFinished: EventType = "device.flash.finished"
    public static let bootStarted: EventType = "device.boot.started"
    public static let bootFinished: EventType = "device.boot.finished"
    /// A device's health changed (from, to, reason, evidence).
    public static let deviceHealthChanged: EventType = "device.health.changed"

    public static let packageStarted: EventType = "test.package.started"
    public static let packageFinished: EventType = "test.package.finished"
    public static let setFinished: EventType = "test.set.finished"
    public static let caseFinished: EventType = "test.case.finished"
    public static let stepFinished: EventType = "test.step.finished"

    public static let resultsStarted: EventType = "results.processing.started"
    public static let resultsFinished: EventType = "results.processing.finished"

    public static let workerOnline: EventType = "worker.online"
    public static let workerHeartbeat: EventType = "worker.heartbeat"
    public static let workerBusy: EventType = "worker.busy"
    public static let workerFree: EventType = "worker.free"
    public static let workerOffline: EventType = "worker.offline"
    /// The server refused events a worker sent (forged, or not its own).
    public static let workerRefused: EventType = "worker.refused"

    public static let failure: EventType = "failure"

    /// The monitor queue's retention dropped events no consumer had read.
    public static let queueDropped: EventType = "queue.dropped"

    /// The monitor sent a testrun's e-mail to its `notify` list.
    public static let mailSent: EventType = "mail.sent"
    /// A try to send it failed; it is tried again.
    public static let mailFailed: EventType = "mail.failed"
    /// Every try failed: it is kept as a dead letter.
    public static let mailDeadLettered: EventType = "mail.dead_lettered"
}

extension MonitorEvent {
    /// The event that tells of events the monitor queue's retention
    /// dropped unread: how many, through which queue position, and why.
    public static func queueDropped(
        _ dropped: Int, throughSequence: Int64, reason: String, sender: Sender, at now: Date = Date()
    ) -> MonitorEvent {
        var event = MonitorEvent(type: .queueDropped, emittedAt: now, sender: sender)
        event.receivedAt = now
        event.details = ["dropped": String(dropped), "through_sequence": String(throughSequence), "reason": reason]
        return event
    }
}
