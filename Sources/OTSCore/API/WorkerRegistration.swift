import Foundation

/// A worker instance introduces itself (`POST /api/v1/workers`).
public struct WorkerRegistration: Sendable, Hashable, Codable {
    public var host: String
    public var instance: String
    public var version: String
    public var pid: Int32
    public var device: DeviceProperties

    public init(host: String, instance: String, version: String = OTSVersion.current, pid: Int32, device: DeviceProperties) {
        self.host = host
        self.instance = instance
        self.version = version
        self.pid = pid
        self.device = device
    }

    /// The id the server gives an instance: the same on every registration.
    public var workerID: String { "\(host)/\(instance)" }

    public var problems: [TestrunRequest.Problem] {
        var problems: [TestrunRequest.Problem] = []
        for (field, value) in [("host", host), ("instance", instance)] {
            if let problem = MonitorEvent.nameProblem(value) { problems.append(.init(field: field, message: problem)) }
        }
        // The components' own names: the monitor takes what their events
        // say of a worker (details.worker) as theirs.
        if MonitorEvent.Sender.components.contains(instance) {
            problems.append(.init(field: "instance", message: "'\(instance)' is the name of an OTS component, not of a worker instance"))
        }
        if version.isEmpty || version.count > TestrunRequest.Limits.nameLength || version.containsControlCharacters {
            problems.append(
                .init(field: "version", message: "must have 1 to \(TestrunRequest.Limits.nameLength) characters, none a control character"))
        }
        if pid < 0 { problems.append(.init(field: "pid", message: "must be 0 or more, not \(pid)")) }
        for problem in device.problems {
            let field = problem.split(separator: " ").first.map(String.init) ?? "device"
            problems.append(.init(field: "device.\(field)", message: problem))
        }
        return problems
    }
}

/// The server's answer to a registration.
public struct WorkerRegistered: Sendable, Hashable, Codable {
    public var workerID: String
    /// How often the worker should heartbeat.
    public var heartbeatSeconds: Double
    /// How long a claim lasts without a heartbeat.
    public var leaseSeconds: Double
    /// The instance's own token for everything after registration (none
    /// when the server checks no tokens). Enrolling again replaces it.
    public var token: String?

    enum CodingKeys: String, CodingKey {
        case workerID = "worker_id"
        case heartbeatSeconds = "heartbeat_seconds"
        case leaseSeconds = "lease_seconds"
        case token
    }

    public init(workerID: String, heartbeatSeconds: Double, leaseSeconds: Double) {
        self.workerID = workerID
        self.heartbeatSeconds = heartbeatSeconds
        self.leaseSeconds = leaseSeconds
    }
}

/// A worker instance's heartbeat: its state, the task it holds, and the
/// tasks it has ended whose reports still wait in its spool.
public struct Heartbeat: Sendable, Hashable, Codable {
    public var workerID: String
    public var state: String
    public var taskID: String?
    /// Tasks the instance has ended whose results or finish still wait in
    /// its spool: the server keeps their leases while it still holds them,
    /// so that a slow spool does not hand them to another worker.
    public var spooledTaskIDs: [String]?

    /// Most tasks in `spooled_task_ids`.
    public static let spooledLimit = 1000

    /// The states an instance heartbeats with.
    public enum State: String, Sendable, CaseIterable {
        /// Waiting for a task.
        case free
        /// Running `task_id`.
        case busy
        /// Its spool cannot be written (a full disk): it takes no task.
        case spoolFull = "spool_full"
    }

    /// Problems with a heartbeat, each naming its field.
    public var problems: [TestrunRequest.Problem] {
        var problems: [TestrunRequest.Problem] = []
        if State(rawValue: state) == nil {
            let states = State.allCases.map(\.rawValue).joined(separator: ", ")
            problems.append(.init(field: "state", message: "must be one of \(states), not '\(String(state.prefix(100)).logSafe)'"))
        }
        if let taskID, UUID(uuidString: taskID) == nil { problems.append(.init(field: "task_id", message: "must be a UUID")) }
        let spooled = spooledTaskIDs ?? []
        if spooled.count > Self.spooledLimit {
            problems.append(.init(field: "spooled_task_ids", message: "at most \(Self.spooledLimit), not \(spooled.count)"))
        }
        if let index = spooled.firstIndex(where: { UUID(uuidString: $0) == nil }) {
            problems.append(.init(field: "spooled_task_ids[\(index)]", message: "must be a UUID"))
        }
        return problems
    }

    enum CodingKeys: String, CodingKey {
        case workerID = "worker_id"
        case state
        case taskID = "task_id"
        case spooledTaskIDs = "spooled_task_ids"
    }

    public init(workerID: String, state: String, taskID: String? = nil, spooledTaskIDs: [String]? = nil) {
        self.workerID = workerID
        self.state = state
        self.taskID = taskID
        self.spooledTaskIDs = spooledTaskIDs
    }
}

/// A worker instance asks for a task (`POST /api/v1/workers/claim`),
/// waiting up to `wait_seconds` for one.
public struct ClaimRequest: Sendable, Hashable, Codable {
    public var workerID: String
    public var waitSeconds: Double?

    enum CodingKeys: String, CodingKey {
        case workerID = "worker_id"
        case waitSeconds = "wait_seconds"
    }

    public init(workerID: String, waitSeconds: Double? = nil) {
        self.workerID = workerID
        self.waitSeconds = waitSeconds
    }

    /// The longest `wait_seconds` accepted (the server waits at most its
    /// own `claim_wait`).
    public static let waitLimit = 3600.0

    /// A problem with the claim, naming its field.
    public var problem: TestrunRequest.Problem? {
        if let waitSeconds, !(waitSeconds.isFinite && (0...Self.waitLimit).contains(waitSeconds)) {
            return .init(field: "wait_seconds", message: "must be from 0 to \(Int(Self.waitLimit)) seconds")
        }
        return nil
    }
}

/// The answer to a heartbeat: whether to stop the task held (cancelled,
/// timed out, or handed to another worker).
public struct HeartbeatReply: Sendable, Hashable, Codable {
    public var stopTask: Bool
    public var reason: String?

    enum CodingKeys: String, CodingKey {
        case stopTask = "stop_task"
        case reason
    }

    public init(stopTask: Bool, reason: String? = nil) {
        self.stopTask = stopTask
        self.reason = reason
    }
}
