import Foundation
import Logging
import OTSStore
import OTSTestSupport

/// What the monitor's tests share: a quiet logger, and a fresh migrated
/// SQLite store in a folder of its own, closed after the test's body.
enum TestStore {
    static let logger: Logger = {
        var logger = Logger(label: "ots.monitor.test")
        logger.logLevel = .critical
        return logger
    }()

    static func with<R>(_ body: (Store) async throws -> R) async throws -> R {
        let folder = try TemporaryDirectory()
        let store = try await Store.open(.sqlite(path: folder.file("ots.sqlite")), logger: logger)
        do {
            let result = try await body(store)
            await store.close()
            return result
        } catch {
            await store.close()
            throw error
        }
    }
}
