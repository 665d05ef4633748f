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
                    .map { _ in connection }
                    .flatMapError { error in connection.close().flatMapThrowing { throw error } }
            }
    }
}
