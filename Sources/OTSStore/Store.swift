import Foundation
import Logging
import SQLKit

/// Everything OTS knows, in one database: testruns, tasks, workers,
/// results, events and history, and the two queues that decouple OTS's
/// parts (tasks for workers, events for the monitor). A state change and the
/// messages it causes commit in one transaction.
///
///     let store = try await Store.open(.defaultURL, logger: logger)
///     try await store.transaction { tx in
///         try await tx.enqueue(tasks)
///         try await tx.append(events)
///     }
public final class Store: Sendable {
    public let database: Database

    init(database: Database) {
        self.database = database
    }

    /// Opens the store, applying pending migrations; refuses a database
    /// migrated by a newer OTS. On PostgreSQL a request that waits
    /// `unavailableAfter` for a connection fails as `unavailable`.
    public static func open(
        _ url: DatabaseURL, logger: Logger, migrate: Bool = true, unavailableAfter: Duration = Database.defaultUnavailableAfter
    ) async throws -> Store {
        let database = try Database.open(url, logger: logger, unavailableAfter: unavailableAfter)
        do {
            try await Migrations.checkNotNewer(database)
            if migrate {
                try await Migrations.migrate(database)
            }
        } catch {
            await database.shutdown()
            throw error
        }
        return Store(database: database)
    }

    public var dialect: Dialect { database.dialect }

    /// Runs `body` in one transaction. On SQLite write transactions take
    /// turns; read with `read` what only needs reading.
    public func transaction<R: Sendable>(_ body: (StoreTransaction) async throws -> R) async throws -> R {
        try await database.transaction { db in
            try await body(StoreTransaction(db: db, dialect: database.dialect))
        }
    }

    /// Runs `body` in a read transaction: one consistent snapshot of the
    /// store, which never waits for writers (on SQLite, write-ahead logging
    /// lets it run beside the one writer). It may only read: a write in it
    /// fails, and so does a row lock (`lockTask`, `lockTestrun`, claims) on
    /// PostgreSQL.
    ///
    ///     let workers = try await store.read { tx in try await tx.workers() }
    public func read<R: Sendable>(_ body: (StoreTransaction) async throws -> R) async throws -> R {
        try await database.read { db in
            try await body(StoreTransaction(db: db, dialect: database.dialect))
        }
    }

    public func close() async {
        await database.shutdown()
    }
}

/// The store's operations inside one transaction.
public struct StoreTransaction: Sendable {
    public let db: any SQLDatabase
    public let dialect: Dialect

    /// `FOR NO KEY UPDATE SKIP LOCKED` where the engine has row locks;
    /// SQLite's write transactions are exclusive already.
    ///
    /// The lock is `NO KEY UPDATE`, the one PostgreSQL's own `UPDATE` takes
    /// when no key changes, never `FOR UPDATE`: a transaction that updates a
    /// task row twice holds its testrun's row `FOR KEY SHARE` (the foreign
    /// key's check), and two such transactions that then lock the testrun
    /// `FOR UPDATE` wait for each other: a deadlock whenever two tasks of one
    /// testrun start at once.
    var skipLocked: String { dialect == .postgres ? " FOR NO KEY UPDATE SKIP LOCKED" : "" }
    var forUpdate: String { dialect == .postgres ? " FOR NO KEY UPDATE" : "" }
}
