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
        id: String = UUID().uuidString.lowercased(),
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

    /// Problems with an event as a sender gives it, each naming its field.
    public var problems: [String] {
        var problems: [String] = []
        if id.isEmpty || id.count > 100 { problems.append("id: must have 1 to 100 characters") }
        if type.rawValue.isEmpty || type.rawValue.count > 100 { problems.append("type: must have 1 to 100 characters") }
        for (field, value) in [("package", package), ("set", set), ("case", testCase), ("error.message", error?.message)] {
            if let value, value.count > TestrunRequest.Limits.textLength {
                problems.append("\(field): at most \(TestrunRequest.Limits.textLength) characters")
            }
        }
        if (details?.count ?? 0) > 50 { problems.append("details: at most 50 entries") }
        return problems
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

    public static let failure: EventType = "failure"
}
