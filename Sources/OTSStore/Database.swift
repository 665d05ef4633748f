import AsyncKit
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresKit
import PostgresNIO
import SQLKit
import SQLiteKit
import Synchronization

/// The SQL engine under the store. The same statements run on both; where
/// the SQL differs (auto-increment columns, row locks), the store asks the
/// dialect.
public enum Dialect: String, Sendable, Hashable {
    case sqlite
    case postgres
}

/// A pool of connections to one database, with transactions that hold one
/// connection from BEGIN to COMMIT.
public final class Database: Sendable {
    // EventLoopGroupConnectionPool is not marked Sendable, but it is made
    // to be shared: its state is behind a lock and every method may be
    // called from any thread (AsyncKit's own database wrappers share it).
    private enum Pool: @unchecked Sendable {
        /// Write transactions and plain statements go to `writer`; read
        /// transactions and plain reads to `reader`, whose connections are
        /// query-only. `thread` is the writers' (`WriterThread`).
        case sqlite(
            writer: EventLoopGroupConnectionPool<SQLiteSource>, reader: EventLoopGroupConnectionPool<SQLiteSource>, thread: WriterThread)
        /// PostgresNIO's client and the task that runs its pool, from open
        /// to shutdown.
        case postgres(PostgresClient, Task<Void, Never>)
    }

    private let pool: Pool
    public let dialect: Dialect
    public let url: DatabaseURL
    let logger: Logger
    /// SQLite: write transactions of this process take turns here, so that
    /// at most one of them waits (on a thread) for another process's lock.
    /// Several waiting on threads at once could leave none for the
    /// transaction that holds the lock to commit. Read transactions never
    /// take it.
    private let writeLock: AsyncLock?
    /// PostgreSQL: the longest a statement waits for a connection before
    /// it fails as `unavailable` (the database is down, or every
    /// connection stays busy that long).
    public let unavailableAfter: Duration
    /// SQLite: the write-ahead log is copied into the database file (a
    /// checkpoint) after every `checkpointEvery` write transactions, on a
    /// connection of its own beside the writers. SQLite's automatic
    /// checkpoint would run inside the commit that fills the log, syncing
    /// the disk twice while the next writer waits its turn.
    private let checkpoints = Mutex(Checkpoints())
    /// SQLite: the connection of write transactions, taken from the
    /// writers' pool at the first and kept (only the holder of the write
    /// lock uses it), so that a transaction does not wait for the pool.
    private let keptWriter = Mutex<SQLiteConnection?>(nil)
    static let checkpointEvery = 100

    private struct Checkpoints {
        var commits = 0
        var running = false
        var done = 0
        var last: EventLoopFuture<Void>?
    }

    private init(pool: Pool, dialect: Dialect, url: DatabaseURL, logger: Logger, unavailableAfter: Duration) {
        self.pool = pool
        self.dialect = dialect
        self.url = url
        self.logger = logger
        self.writeLock = dialect == .sqlite ? AsyncLock() : nil
        self.unavailableAfter = unavailableAfter
    }

    /// How long a request waits for a PostgreSQL connection by default.
    public static let defaultUnavailableAfter = Duration.seconds(5)

    /// The threads of SQLite's read transactions, apart from the writers',
    /// so that readers (dashboards, live streams) never hold up a writer
    /// waiting for a thread.
    private static let sqliteReadThreads: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 4)
        pool.start()
        return pool
    }()

    /// Opens a pool for the URL (creating the SQLite file and its folder).
    /// On PostgreSQL a statement that waits `unavailableAfter` for a
    /// connection fails as `unavailable`.
    public static func open(
        _ url: DatabaseURL, logger: Logger, connections: Int = 4, unavailableAfter: Duration = defaultUnavailableAfter
    ) throws(StoreError) -> Database {
        let group = MultiThreadedEventLoopGroup.singleton
        switch url {
        case .sqlite(let path):
            let folder = (path as NSString).deletingLastPathComponent
            if !folder.isEmpty {
                do {
                    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
                } catch {
                    throw StoreError(.unavailable, "cannot create the folder \(folder) for the database: \(error.localizedDescription)")
                }
            }
            // The thread of this database's write transactions and plain
            // statements; write transactions run their code on it too. One
            // per database: a writer of another database (or of another
            // store on the same file) that waits for SQLite's lock blocks
            // its own thread, not this one.
            let thread = WriterThread()
            let writer = EventLoopGroupConnectionPool(
                source: SQLiteSource(path: path, threadPool: thread.pool),
                maxConnectionsPerEventLoop: connections,
                requestTimeout: .seconds(60),
                logger: logger,
                on: group
            )
            let reader = EventLoopGroupConnectionPool(
                source: SQLiteSource(path: path, threadPool: sqliteReadThreads, queryOnly: true),
                maxConnectionsPerEventLoop: connections,
                requestTimeout: .seconds(60),
                logger: logger,
                on: group
            )
            return Database(
                pool: .sqlite(writer: writer, reader: reader, thread: thread), dialect: .sqlite, url: url, logger: logger,
                unavailableAfter: unavailableAfter)
        case .postgres(let text):
            let configuration: SQLPostgresConfiguration
            do {
                configuration = try SQLPostgresConfiguration(url: text)
            } catch {
                throw StoreError(.invalidURL, "database URL '\(url)' is not a PostgreSQL URL OTS can use: \(error)")
            }
            let core = configuration.coreConfiguration
            var client = PostgresClient.Configuration(
                host: core.host ?? "localhost", port: core.port ?? 5432, username: core.username, password: core.password,
                database: core.database, tls: Self.tls(text))
            client.options.maximumConnections = connections * System.coreCount
            // A server that does not answer is reported in seconds.
            client.options.connectTimeout = .seconds(5)
            let postgres = PostgresClient(configuration: client, eventLoopGroup: group, backgroundLogger: logger)
            // The pool runs for the database's life: it is opened before a
            // component's services start (migrations) and closed after they
            // stop, so it cannot be one of them; `shutdown` ends it.
            // Started at once (run marks the client running before its first
            // suspension), so a lease right after opening finds it running.
            let running = Task.immediate { await postgres.run() }
            return Database(
                pool: .postgres(postgres, running), dialect: .postgres, url: url, logger: logger, unavailableAfter: unavailableAfter)
        }
    }

    /// Runs `body` on one connection of the pool, outside any transaction.
    /// `reading`: `body` only reads (each statement sees the database as it
    /// is then); on SQLite it gets a query-only reader's connection, so it
    /// never waits behind the writers' thread.
    public func withConnection<R: Sendable>(reading: Bool = false, _ body: (any SQLDatabase) async throws -> R) async throws -> R {
        do {
            return try await lease(reading: reading, body)
        } catch {
            throw described(error)
        }
    }

    /// A connection from the pool for `body`. A PostgreSQL connection that
    /// closed while it sat in the pool is passed over for another.
    private func lease<R: Sendable>(reading: Bool = false, writeLockHeld: Bool = false, _ body: (any SQLDatabase) async throws -> R)
        async throws -> R
    {
        switch pool {
        case .sqlite(let writer, _, _) where writeLockHeld:
            let kept = keptWriter.withLock { $0 }
            let connection: SQLiteConnection
            if let kept, !kept.isClosed {
                connection = kept
            } else {
                connection = try await request(writer)
                keptWriter.withLock { $0 = connection }
            }
            return try await body(connection.sql())
        case .sqlite(let writer, let reader, _):
            let pool = reading ? reader : writer
            let connection = try await request(pool)
            defer { pool.releaseConnection(connection, logger: logger) }
            return try await body(connection.sql())
        case .postgres(let client, _):
            var attempts = 0
            while true {
                attempts += 1
                let outcome: Leased<R> = try await withConnection(of: client) { connection in
                    if connection.isClosed && attempts < 3 { return .closed }
                    return .done(try await body(OpenConnection(connection)))
                }
                if case .done(let result) = outcome { return result }
            }
        }
    }

    /// A connection of `client` for `body`, waited for at most
    /// `unavailableAfter`. (PostgresClient would keep the request waiting
    /// while it cannot connect until its circuit breaker trips, a minute
    /// later.) The lease is held by a child task that lends the
    /// connection to `body` here.
    private func withConnection<R: Sendable>(of client: PostgresClient, _ body: (PostgresConnection) async throws -> R) async throws
        -> R
    {
        let handover = LeaseHandover()
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    try await client.withConnection { connection in await handover.lend(connection) }
                } catch {
                    handover.fail(error)
                }
            }
            let limit = unavailableAfter
            let url = url
            let timer = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(
                in: TimeAmount(limit)
            ) {
                handover.fail(
                    StoreError(
                        .unavailable,
                        "no connection to the database \(url) within \(limit.formatted(.units(allowed: [.seconds], width: .narrow)))"))
            }
            defer { handover.giveBack() }
            let connection: PostgresConnection
            do {
                connection = try await handover.connection()
            } catch {
                timer.cancel()
                throw error
            }
            timer.cancel()
            return try await body(connection)
        }
    }

    private enum Leased<R: Sendable>: Sendable {
        case closed
        case done(R)
    }

    /// PostgreSQL's errors as the store's, naming the database and saying
    /// what happened (PostgresNIO's own text says only "see the details").
    private func described(_ error: any Error) -> any Error {
        if let lost = ConnectionLost(error) {
            return StoreError(.unavailable, "no connection to the database \(url): \(lost.reason)")
        }
        if let error = error as? PSQLError {
            let info = error.serverInfo
            let what = info?[.message] ?? "\(error.code)"
            let state = info?[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
            return StoreError(.refused, "the database \(url) refused a statement: \(what)\(state)")
        }
        return error
    }

    /// The TLS of a PostgreSQL URL's `tlsmode` (or `sslmode`): disable,
    /// prefer (the default) or require.
    static func tls(_ url: String) -> PostgresClient.Configuration.TLS {
        let query = URLComponents(string: url)?.queryItems ?? []
        switch query.first(where: { $0.name == "tlsmode" || $0.name == "sslmode" })?.value {
        case "disable": return .disable
        case "require", "verify-ca", "verify-full": return .require(.makeClientConfiguration())
        default: return .prefer(.makeClientConfiguration())
        }
    }

    private func request<Source>(_ pool: EventLoopGroupConnectionPool<Source>) async throws -> Source.Connection
    where Source.Connection: Sendable {
        do {
            return try await pool.requestConnection(logger: logger).get()
        } catch {
            throw StoreError(.unavailable, "cannot connect to the database \(url): \(error)")
        }
    }

    /// Runs `body` in a transaction: committed when it returns, rolled back
    /// when it throws. On SQLite the transaction takes the write lock at
    /// once (BEGIN IMMEDIATE), so concurrent writers wait their turn
    /// instead of failing; a task cancelled while it waits for its turn
    /// throws `CancellationError` and runs nothing.
    public func transaction<R: Sendable>(_ body: (any SQLDatabase) async throws -> R) async throws -> R {
        do {
            guard let writeLock else { return try await unguardedTransaction(.write, body) }
            let result = try await withTaskExecutorPreference(writeExecutor) {
                try await writeLock.withLock { try await unguardedTransaction(.write, body) }
            }
            committed()
            return result
        } catch {
            throw described(error)
        }
    }

    /// Runs `body` in a read transaction: it sees one snapshot of the
    /// database, as of its first statement, and may not write (a write
    /// fails: SQLite's connection is query-only, PostgreSQL's transaction
    /// READ ONLY). It never waits for writers: on SQLite it takes no write
    /// lock and write-ahead logging lets it run beside the writer; on
    /// PostgreSQL it is REPEATABLE READ, READ ONLY, and takes no row locks.
    public func read<R: Sendable>(_ body: (any SQLDatabase) async throws -> R) async throws -> R {
        do {
            return try await unguardedTransaction(.read, body)
        } catch {
            throw described(error)
        }
    }

    /// Where write transactions run their code: SQLite's writer thread;
    /// nil on PostgreSQL (any thread).
    var writeExecutor: (any TaskExecutor)? {
        if case .sqlite(_, _, let thread) = pool { return thread }
        return nil
    }

    /// Write transactions waiting for their turn (SQLite).
    var writersWaiting: Int { writeLock?.waiting ?? 0 }

    /// Checkpoints run to their end (SQLite).
    var checkpointsDone: Int { checkpoints.withLock { $0.done } }
    var commitsSinceCheckpoint: Int { checkpoints.withLock { $0.commits } }

    /// Counts a committed write transaction on SQLite, and starts a passive
    /// checkpoint beside the writers when enough have committed since the
    /// last one. A passive checkpoint takes no lock that writers or readers
    /// wait for; it copies what no reader still needs, and the next one
    /// copies the rest.
    private func committed() {
        guard case .sqlite(_, let reader, _) = pool else { return }
        let start = checkpoints.withLock { state -> Bool in
            state.commits += 1
            guard state.commits >= Self.checkpointEvery, !state.running else { return false }
            state.commits = 0
            state.running = true
            return true
        }
        guard start else { return }
        // The query-only connections may checkpoint: it changes no data.
        let checkpoint = reader.withConnection(logger: logger) { connection in
            connection.query("PRAGMA wal_checkpoint(PASSIVE)").map { _ in }
        }
        checkpoints.withLock { $0.last = checkpoint }
        checkpoint.whenComplete { result in
            self.checkpoints.withLock { state in
                state.running = false
                state.done += 1
            }
            if case .failure(let error) = result {
                self.logger.warning("a checkpoint of the SQLite write-ahead log failed (the next one tries again): \(error)")
            }
        }
    }

    private enum Access {
        case write
        case read
    }

    private func unguardedTransaction<R: Sendable>(_ access: Access, _ body: (any SQLDatabase) async throws -> R) async throws -> R {
        do {
            return try await transactionOnce(access, body)
        } catch let error as StaleConnection {
            // The connection was closed under it (PostgreSQL restarted):
            // nothing ran, so once more on a new connection.
            logger.debug("a pooled connection was closed (\(error.underlying)); once more on a new one")
            do {
                return try await transactionOnce(access, body)
            } catch let error as StaleConnection {
                throw error.underlying
            }
        }
    }

    private struct StaleConnection: Error {
        var underlying: any Error
    }

    private func begin(_ access: Access) -> String {
        switch (dialect, access) {
        case (.sqlite, .write): "BEGIN IMMEDIATE"
        case (.sqlite, .read): "BEGIN"
        case (.postgres, .write): "BEGIN"
        case (.postgres, .read): "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"
        }
    }

    private func transactionOnce<R: Sendable>(_ access: Access, _ body: (any SQLDatabase) async throws -> R) async throws -> R {
        try await lease(reading: access == .read, writeLockHeld: access == .write && writeLock != nil) { db in
            do {
                try await db.raw(SQLQueryString(begin(access))).run()
            } catch {
                guard ConnectionLost(error) != nil else { throw error }
                throw StaleConnection(underlying: error)
            }
            do {
                let result = try await body(db)
                try await db.raw("COMMIT").run()
                return result
            } catch {
                // A lost connection took its transaction with it: there is
                // nothing to roll back, and nowhere to send the ROLLBACK.
                if ConnectionLost(error) == nil {
                    try? await db.raw("ROLLBACK").run()
                }
                throw error
            }
        }
    }

    /// Closes every connection.
    public func shutdown() async {
        switch pool {
        case .sqlite(let writer, let reader, let thread):
            if let kept = keptWriter.withLock({ $0.take() }) {
                writer.releaseConnection(kept, logger: logger)
            }
            if let checkpoint = checkpoints.withLock({ $0.last }) {
                try? await checkpoint.get()
            }
            try? await reader.shutdownAsync()
            try? await writer.shutdownAsync()
            try? await thread.pool.shutdownGracefully()
        case .postgres(_, let running):
            running.cancel()
            await running.value
        }
    }
}
