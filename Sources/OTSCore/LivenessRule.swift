import Foundation

/// When a worker instance counts as offline: after it missed
/// `missedHeartbeats` heartbeats of `heartbeatSeconds` each. The server
/// (which workers the history model plans for) and the monitor (which
/// workers it marks offline) decide by this one rule, each from its
/// `heartbeat_seconds` and `missed_heartbeats` settings.
public struct LivenessRule: Sendable, Hashable {
    /// How often workers heartbeat (the server's `heartbeat_seconds`).
    public var heartbeatSeconds: Double
    /// Heartbeats a worker may miss before it counts as offline.
    public var missedHeartbeats: Int

    public static let defaultHeartbeatSeconds = 5.0
    public static let defaultMissedHeartbeats = 3

    public init(heartbeatSeconds: Double = defaultHeartbeatSeconds, missedHeartbeats: Int = defaultMissedHeartbeats) {
        self.heartbeatSeconds = heartbeatSeconds
        self.missedHeartbeats = missedHeartbeats
    }

    /// How long without a heartbeat makes a worker offline.
    public var offlineAfter: TimeInterval { heartbeatSeconds * Double(max(1, missedHeartbeats)) }

    /// Heartbeats before this time are too old: a worker last heard from
    /// before it is offline at `now`.
    public func silentBefore(_ now: Date) -> Date { now.addingTimeInterval(-offlineAfter) }

    /// Whether a worker last heard from at `lastHeartbeat` is still alive at `now`.
    public func isAlive(lastHeartbeat: Date, at now: Date) -> Bool { lastHeartbeat >= silentBefore(now) }
}
