import Dispatch
import Foundation
import Logging
import OTSCore
import ServiceLifecycle

/// Ends the process when a graceful shutdown takes longer than `grace`:
/// whatever one of its tasks is stuck in, SIGTERM stops it.
struct ShutdownDeadline: Service {
    let grace: Duration
    let logger: Logger

    func run() async throws {
        // Cancelled: the group ended without a graceful shutdown.
        guard (try? await gracefulShutdown()) != nil else { return }
        let logger = logger
        let grace = grace
        // Outside Swift concurrency, so that no stuck task can hold it up.
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int(grace.milliseconds))) {
            logger.critical("did not stop within \(grace) of being asked to; exiting")
            exit(1)
        }
    }
}
