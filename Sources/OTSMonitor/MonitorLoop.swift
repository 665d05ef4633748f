import Foundation
import Logging
import OTSStore
import ServiceLifecycle

/// The monitor's work, until shutdown: drain the queue batch by batch,
/// and between batches decide liveness and bound the queue.
struct MonitorLoop: Service {
    let ingest: Ingest
    let liveness: Liveness
    let store: Store
    let configuration: MonitorConfiguration
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            let clock = ContinuousClock()
            var lastSweep = clock.now - .seconds(3600)
            var lastRetention = clock.now
            var backoff = Duration.milliseconds(100)
            while !Task.isCancelled {
                do {
                    let taken = try await ingest.next()
                    backoff = .milliseconds(100)
                    if clock.now - lastSweep >= .seconds(1) {
                        try await liveness.sweep()
                        lastSweep = clock.now
                    }
                    if clock.now - lastRetention >= .seconds(60) {
                        let report = try await store.applyRetention(
                            maxAge: .seconds(configuration.retentionSeconds), maxMessages: configuration.retentionEvents)
                        if report.dropped > 0 {
                            logger.error("the monitor queue dropped \(report.dropped) unread events (retention)")
                        }
                        lastRetention = clock.now
                    }
                    if taken < configuration.batchSize {
                        try? await Task.sleep(for: .milliseconds(Int64(configuration.pollInterval * 1000)))
                    }
                } catch {
                    if Task.isCancelled { break }
                    logger.error("monitor: \(error); trying again in \(backoff)")
                    try? await Task.sleep(for: backoff)
                    backoff = min(backoff * 2, .seconds(5))
                }
            }
        }
    }
}
