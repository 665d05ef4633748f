import AsyncKit
import Logging
import NIOCore
import NIOPosix
import SQLiteNIO

/// Opens SQLite connections set up for several processes sharing one file:
/// write-ahead logging, a busy timeout instead of "database is locked",
/// foreign keys on. A `queryOnly` connection (for read transactions)
/// refuses to change the database. The store checkpoints the log itself,
/// beside the writers (`Database`); SQLite's own checkpoint in the commit
/// that fills the log stays only as a backstop, at ten times its default.
struct SQLiteSource: ConnectionPoolSource {
    let path: String
    let threadPool: NIOThreadPool
    var queryOnly = false

    func makeConnection(logger: Logger, on eventLoop: any EventLoop) -> EventLoopFuture<SQLiteConnection> {
        SQLiteConnection.open(storage: .file(path: path), threadPool: threadPool, logger: logger, on: eventLoop)
            .flatMap { connection in
                connection.query("PRAGMA busy_timeout = 30000")
                    .flatMap { _ in connection.query("PRAGMA journal_mode = WAL") }
                    .flatMap { _ in connection.query("PRAGMA synchronous = NORMAL") }
                    .flatMap { _ in connection.query("PRAGMA foreign_keys = ON") }
                    .flatMap { _ in connection.query("PRAGMA wal_autocheckpoint = 10000") }
                    .flatMap { _ in connection.query(queryOnly ? "PRAGMA query_only = ON" : "PRAGMA query_only = OFF") }
                    .flatMap { _ in queryOnly ? connection.eventLoop.makeSucceededFuture([]) : writerPragmas(connection) }
                    .map { _ in connection }
                    .flatMapError { error in connection.close().flatMapThrowing { throw error } }
            }
    }

    /// A writer keeps a large transaction's pages in memory: a cache of
    /// 16 MiB (SQLite's default, 2 MiB, spills a monitor batch's pages to
    /// the log before it commits) and the statement journal, which every
    /// multi-row statement in a transaction writes, in memory instead of a
    /// temporary file. The cache fills only as pages are used.
    private func writerPragmas(_ connection: SQLiteConnection) -> EventLoopFuture<[SQLiteRow]> {
        connection.query("PRAGMA cache_size = -16384")
            .flatMap { _ in connection.query("PRAGMA temp_store = MEMORY") }
    }
}
