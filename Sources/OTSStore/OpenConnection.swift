import Logging
import NIOCore
import PostgresKit
import PostgresNIO
import SQLKit
import _ConnectionPoolModule

/// A PostgreSQL connection as SQLKit's database, which sends a statement
/// only while the connection is open, and answers at once when it is not.
///
/// PostgresNIO (1.33) hands a statement to its channel without asking to be
/// told whether the write succeeded. On a channel that has just closed
/// (PostgreSQL restarted, say) the write fails unseen and the statement's
/// answer never comes: the caller waits forever. So each statement is
/// written from the connection's own event loop, where checking that the
/// channel is open and writing to it happen together.
struct OpenConnection: SQLDatabase {
    let connection: PostgresConnection
    private let sql: any SQLDatabase

    init(_ connection: PostgresConnection) {
        self.connection = connection
        self.sql = connection.sql()
    }

    var logger: Logger { sql.logger }
    var eventLoop: any EventLoop { sql.eventLoop }
    var version: (any SQLDatabaseReportedVersion)? { sql.version }
    var dialect: any SQLDialect { sql.dialect }
    var queryLogLevel: Logger.Level? { sql.queryLogLevel }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) -> EventLoopFuture<Void> {
        let connection = connection
        let sql = sql
        return eventLoop.flatSubmit {
            guard !connection.isClosed else {
                return connection.eventLoop.makeFailedFuture(ConnectionLost(reason: "the connection had closed"))
            }
            return sql.execute(sql: query, onRow)
        }
    }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) async throws {
        try await execute(sql: query, onRow).get()
    }
}

/// A statement not sent, or not answered, because the connection to the
/// database was lost. Its transaction is gone with it.
struct ConnectionLost: Error, CustomStringConvertible {
    var reason: String
    var description: String { reason }

    init(reason: String) {
        self.reason = reason
    }

    /// The error as a lost connection, when it is one: the connection closed
    /// (by either side, or on a network error) or the server ended the
    /// session (a FATAL error, an operator's shutdown, class 08 or 57P).
    init?(_ error: any Error) {
        if let error = error as? ConnectionLost {
            self = error
            return
        }
        if let error = error as? _ConnectionPoolModule.ConnectionPoolError, error == .connectionCreationCircuitBreakerTripped {
            // PostgresClient gives up on waiting requests after a minute of
            // failed attempts to connect.
            reason = "it accepted no connection for a minute"
            return
        }
        guard let error = error as? PSQLError else { return nil }
        switch error.code {
        case .serverClosedConnection: reason = "the server closed the connection"
        case .clientClosedConnection: reason = "the connection was closed"
        case .connectionError, .uncleanShutdown: reason = "the connection failed (\(error.underlying.map { "\($0)" } ?? "\(error.code)"))"
        case .poolClosed: reason = "the store was closed"
        case .messageDecodingFailure, .unexpectedBackendMessage: reason = "the server's answer could not be read (\(error.code))"
        case .server:
            let severity = error.serverInfo?[.severity] ?? ""
            let state = error.serverInfo?[.sqlState] ?? ""
            guard severity == "FATAL" || severity == "PANIC" || state.hasPrefix("08") || state.hasPrefix("57P") else { return nil }
            reason = "the server ended the session: \(error.serverInfo?[.message] ?? state)"
        default: return nil
        }
    }
}
