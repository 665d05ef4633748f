import Logging
import ServiceLifecycle

/// Sweeps the farm for expired leases and timeouts at a steady interval,
/// until graceful shutdown.
struct Sweeper: Service {
    let farm: Farm
    let interval: Duration
    let logger: Logger

    func run() async throws {
        // Shutdown cancels the loop; that is its normal end, not an error.
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await farm.sweep()
                } catch {
                    if Task.isCancelled { break }
                    logger.error("sweep failed (will retry): \(error)")
                }
                try? await Task.sleep(for: interval)
            }
        }
    }
}
