import Foundation

/// A worker instance as the monitor sees it.
public struct WorkerView: Sendable, Hashable, Codable {
    public var id: String
    public var host: String
    public var instance: String
    public var version: String
    public var pid: Int32?
    public var device: DeviceProperties
    /// online (registered, not yet heartbeating), free, busy, spool_full
    /// (free, but taking no task while its spool cannot be written) or
    /// offline.
    public var state: String
    public var currentTask: String?
    public var lastHeartbeat: Date

    enum CodingKeys: String, CodingKey {
        case id, host, instance, version, pid, device, state
        case currentTask = "current_task"
        case lastHeartbeat = "last_heartbeat"
    }

    public init(
        id: String, host: String, instance: String, version: String, pid: Int32?, device: DeviceProperties, state: String,
        currentTask: String?, lastHeartbeat: Date
    ) {
        self.id = id
        self.host = host
        self.instance = instance
        self.version = version
        self.pid = pid
        self.device = device
        self.state = state
        self.currentTask = currentTask
        self.lastHeartbeat = lastHeartbeat
    }
}

/// The workers the monitor knows (`GET /api/v1/workers` of the monitor).
public struct WorkerList: Sendable, Hashable, Codable {
    public var workers: [WorkerView]

    public init(workers: [WorkerView]) {
        self.workers = workers
    }
}

/// The monitor's view of itself: how far behind the queue it is.
public struct MonitorStatus: Sendable, Hashable, Codable {
    public var consumer: String
    public var backlogEvents: Int
    /// Seconds the oldest unread event has waited (0 when none).
    public var lagSeconds: Double
    public var droppedEvents: Int

    enum CodingKeys: String, CodingKey {
        case consumer
        case backlogEvents = "backlog_events"
        case lagSeconds = "lag_seconds"
        case droppedEvents = "dropped_events"
    }

    public init(consumer: String, backlogEvents: Int, lagSeconds: Double, droppedEvents: Int) {
        self.consumer = consumer
        self.backlogEvents = backlogEvents
        self.lagSeconds = lagSeconds
        self.droppedEvents = droppedEvents
    }
}
