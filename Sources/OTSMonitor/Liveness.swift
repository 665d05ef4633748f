import Foundation
import Logging
import OTSCore
import OTSStore

/// Decides which workers are offline: those that missed their heartbeats.
/// The decision is an event on the monitor queue, like any other, in the
/// transaction that records it.
public struct Liveness: Sendable {
    let store: Store
    let configuration: MonitorConfiguration
    let logger: Logger

    public init(store: Store, configuration: MonitorConfiguration, logger: Logger) {
        self.store = store
        self.configuration = configuration
        self.logger = logger
    }

    /// Marks silent workers offline; returns their ids.
    @discardableResult
    public func sweep(at now: Date = Date()) async throws -> [String] {
        // A read first: while every worker heartbeats, no write lock.
        let silentBefore = configuration.liveness.silentBefore(now)
        guard try await !store.read({ try await $0.silentWorkers(before: silentBefore) }).isEmpty else { return [] }
        return try await store.transaction { tx in
            var offline: [String] = []
            var events: [(id: String, payload: String)] = []
            for worker in try await tx.silentWorkers(before: silentBefore) {
                try await tx.setWorkerState(id: worker.id, state: "offline")
                var event = MonitorEvent(
                    type: .workerOffline, emittedAt: now,
                    sender: MonitorEvent.Sender(
                        host: worker.host, instance: worker.instanceName, pid: worker.pid ?? 0, version: worker.version),
                    taskID: worker.currentTask)
                event.receivedAt = now
                event.details = [
                    "reason": "missed heartbeats",
                    "last_heartbeat": worker.lastHeartbeat.formatted(.iso8601),
                    "missed": String(configuration.missedHeartbeats),
                ]
                events.append((event.id, try JSONCoding.string(event)))
                offline.append(worker.id)
                logger.warning("worker \(worker.id) is offline: no heartbeat since \(worker.lastHeartbeat.formatted(.iso8601))")
            }
            try await tx.append(events, at: now)
            return offline
        }
    }
}
