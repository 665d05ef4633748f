import ArgumentParser
import Logging
import OTSStore
import ServiceLifecycle
import UnixSignals

/// Runs a long-lived component (server, monitor): opens its store, runs
/// its services until SIGTERM or SIGINT, and closes the store; failures
/// are one line and exit 1. A request waits at most `unavailableAfter`
/// seconds for a database connection.
func runComponent(
    _ name: String, database: DatabaseURL, unavailableAfter: Double, logger: Logger, services: (Store) throws -> [any Service]
) async throws {
    let store: Store
    do {
        store = try await Store.open(database, logger: logger, unavailableAfter: .milliseconds(Int64(unavailableAfter * 1000)))
    } catch {
        printError("ots \(name): cannot open the database \(database): \(error)")
        throw ExitCode(1)
    }
    let group: ServiceGroup
    do {
        group = ServiceGroup(services: try services(store), gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
    } catch {
        await store.close()
        printError("ots \(name): \(error)")
        throw ExitCode(1)
    }
    do {
        try await group.run()
    } catch {
        await store.close()
        printError("ots \(name): \(error)")
        throw ExitCode(1)
    }
    await store.close()
}
