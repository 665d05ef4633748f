import Foundation
import Logging
import OTSStore
import SQLKit
import Testing

/// The engines the storage contract runs on: SQLite always, PostgreSQL when
/// OTS_TEST_POSTGRES_URL names a server (`./scripts/test.sh` starts one).
public enum Engine: String, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    public static var postgresURL: String? { ProcessInfo.processInfo.environment["OTS_TEST_POSTGRES_URL"] }

    public static var available: [Engine] { postgresURL == nil ? [.sqlite] : [.sqlite, .postgres] }

    public var testDescription: String { rawValue }
}

/// A quiet logger for stores in tests.
public let storeTestLogger: Logger = {
    var logger = Logger(label: "ots.store.test")
    logger.logLevel = .warning
    return logger
}()

/// Runs `body` with a fresh, migrated store on the engine, and removes it after.
public func withStore<R: Sendable>(_ engine: Engine, _ body: (Store, DatabaseURL) async throws -> R) async throws -> R {
    switch engine {
    case .sqlite:
        let folder = FileManager.default.temporaryDirectory.path + "/ots-store-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let url = DatabaseURL.sqlite(path: folder + "/ots.sqlite")
        let store = try await Store.open(url, logger: storeTestLogger)
        do {
            let result = try await body(store, url)
            await store.close()
            return result
        } catch {
            await store.close()
            throw error
        }
    case .postgres:
        let base = try #require(Engine.postgresURL)
        let name = "ots_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        let admin = try Database.open(try DatabaseURL(parsing: base), logger: storeTestLogger, connections: 1)
        try await admin.withConnection { db in try await db.raw("CREATE DATABASE \(unsafeRaw: name)").run() }
        var components = URLComponents(string: base)!
        components.path = "/" + name
        let url = try DatabaseURL(parsing: components.string!)
        do {
            let store = try await Store.open(url, logger: storeTestLogger)
            let result: R
            do {
                result = try await body(store, url)
            } catch {
                await store.close()
                throw error
            }
            await store.close()
            try await admin.withConnection { db in try await db.raw("DROP DATABASE \(unsafeRaw: name)").run() }
            await admin.shutdown()
            return result
        } catch {
            try? await admin.withConnection { db in try await db.raw("DROP DATABASE IF EXISTS \(unsafeRaw: name) WITH (FORCE)").run() }
            await admin.shutdown()
            throw error
        }
    }
}
