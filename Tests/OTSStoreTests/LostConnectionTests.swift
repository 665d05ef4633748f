import Foundation
import OTSTestSupport
import SQLKit
import Synchronization
import Testing

@testable import OTSStore

/// When PostgreSQL ends a session (a restart, an operator, a network
/// failure), the statement that needed it fails at once with one clear
/// error, and the next one gets a new connection. Nothing waits forever.
@Suite(
    .disabled(if: Engine.postgresURL == nil, "needs OTS_TEST_POSTGRES_URL (./scripts/test.sh provides PostgreSQL)"), .timeLimit(.minutes(5))
)
struct LostConnectionTests {
    /// The server ends the transaction's session; its next statement is
    /// sent either at once (racing the close) or after the client has seen
    /// the connection close.
    @Test(arguments: [0, 500])
    func aStatementOnAnEndedSessionFailsAtOnceAndTheNextTransactionReconnects(pauseMilliseconds: Int) async throws {
        try await Self.withAdmin { store, _, admin in
            let database = store.database
            let outcome = try await Self.answer(within: 20) {
                do {
                    try await database.transaction { db in
                        let pid = try #require(try await db.raw("SELECT pg_backend_pid() AS pid").first()).decode(
                            column: "pid", as: Int32.self)
                        try await db.raw("CREATE TABLE lost_write (n INTEGER)").run()
                        try await Self.terminate(pid, from: admin)
                        try await Task.sleep(for: .milliseconds(pauseMilliseconds))
                        try await db.raw("INSERT INTO lost_write VALUES (1)").run()
                    }
                    return "committed"
                } catch let error as StoreError {
                    return "\(error.code): \(error.message)"
                } catch {
                    return String(reflecting: error)
                }
            }
            #expect(outcome.hasPrefix("unavailable: no connection to the database postgres://"), "\(outcome)")
            #expect(!outcome.contains("Generic description"), "the error says what happened: \(outcome)")

            // The next transaction runs on a new connection, and the ended
            // one left nothing behind.
            let tables = try await Self.answer(within: 20) {
                try await database.transaction { db in
                    try await db.raw("SELECT COUNT(*) AS n FROM pg_tables WHERE tablename = 'lost_write'").first()?.decode(
                        column: "n", as: Int.self)
                }
            }
            #expect(tables == 0)
        }
    }

    @Test func pooledConnectionsEndedWhileIdleAreReplacedWithoutAnError() async throws {
        try await Self.withAdmin { store, url, admin in
            let database = store.database
            // Several connections in the pool, then all of them ended.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<4 {
                    group.addTask { try await database.withConnection { db in try await db.raw("SELECT pg_sleep(0.2)").run() } }
                }
                try await group.waitForAll()
            }
            guard case .postgres(let text) = url, let name = URLComponents(string: text)?.path.dropFirst() else {
                Issue.record("not a PostgreSQL URL: \(url)")
                return
            }
            let ended = try await admin.withConnection { db in
                try await db.raw(
                    "SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity WHERE datname = \(bind: String(name))"
                ).all().count
            }
            #expect(ended >= 1)
            try await eventually("the ended sessions to be gone", within: .seconds(20), every: .milliseconds(50)) {
                try await admin.withConnection { db in
                    try await db.raw("SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = \(bind: String(name))").first()?
                        .decode(column: "n", as: Int.self)
                } == 0
            }
            for _ in 0..<8 {
                let one = try await Self.answer(within: 20) {
                    try await database.withConnection { db in
                        try await db.raw("SELECT 1 AS one").first()?.decode(column: "one", as: Int.self)
                    }
                }
                #expect(one == 1)
            }
        }
    }

    @Test func aRefusedStatementIsReportedInPostgreSQLsOwnWords() async throws {
        try await withStore(.postgres) { store, _ in
            let error = await #expect(throws: StoreError.self) {
                try await store.database.withConnection { db in try await db.raw("SELECT no_such_function()").run() }
            }
            #expect(error?.code == .refused)
            #expect(
                error?.message.contains("refused a statement: function no_such_function() does not exist (SQLSTATE 42883)") == true,
                "\(String(describing: error))")
        }
    }

    /// A fresh store, and a connection of its own to end the store's sessions from.
    static func withAdmin(_ body: (Store, DatabaseURL, Database) async throws -> Void) async throws {
        try await withStore(.postgres) { store, url in
            let admin = try Database.open(try DatabaseURL(parsing: try #require(Engine.postgresURL)), logger: testLogger, connections: 1)
            do {
                try await body(store, url, admin)
            } catch {
                await admin.shutdown()
                throw error
            }
            await admin.shutdown()
        }
    }

    static func terminate(_ pid: Int32, from admin: Database) async throws {
        let ended = try await admin.withConnection { db in
            try await db.raw("SELECT pg_terminate_backend(\(bind: pid)) AS ended").first()?.decode(column: "ended", as: Bool.self)
        }
        #expect(ended == true)
    }

    /// True the first time only.
    final class Once: Sendable {
        let done = Mutex(false)
        func first() -> Bool {
            done.withLock { done in
                defer { done = true }; return !done
            }
        }
    }

    struct NoAnswer: Error, CustomStringConvertible {
        var seconds: Int
        var description: String { "no answer within \(seconds) s: the call waits forever" }
    }

    /// The operation's result, or NoAnswer when it has none in time. A
    /// hung operation is left behind rather than awaited, so the test fails
    /// instead of hanging.
    static func answer<R: Sendable>(within seconds: Int, _ operation: @escaping @Sendable () async throws -> R) async throws -> R {
        let once = Once()
        return try await withCheckedThrowingContinuation { continuation in
            Task {
                do {
                    let result = try await operation()
                    if once.first() { continuation.resume(returning: result) }
                } catch {
                    if once.first() { continuation.resume(throwing: error) }
                }
            }
            Task {
                try? await Task.sleep(for: .seconds(seconds))
                if once.first() { continuation.resume(throwing: NoAnswer(seconds: seconds)) }
            }
        }
    }
}
