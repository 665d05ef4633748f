import Logging
import NIOCore
import NIOPosix
import PostgresKit
import Synchronization

/// The PostgreSQL connections of one `Database`: at most `limit` open at
/// once. A request takes an idle connection (dropping those the server
/// closed), opens one while there is room, or waits its turn. Each slot
/// freed (a connection returned, closed or not, or one that could not be
/// opened) goes straight to the next waiter, so that after a database
/// restart every request reconnects at once instead of waiting for a
/// timeout. (AsyncKit's pool fails only the request that opened a
/// connection when opening fails, and leaves the others waiting.)
final class PostgresPool: Sendable {
    private enum Grant {
        case connection(PostgresConnection)
        /// Room to open a connection of one's own.
        case slot
    }

    private struct Waiter {
        var id: UInt64
        var continuation: CheckedContinuation<Grant, any Error>
    }

    private struct State {
        var idle: [PostgresConnection] = []
        /// Connections open, being opened, or lent.
        var open = 0
        var waiters: [Waiter] = []
        var nextID: UInt64 = 0
        var shutdown = false
    }

    private let configuration: SQLPostgresConfiguration
    private let group: any EventLoopGroup
    private let limit: Int
    private let logger: Logger
    private let state = Mutex(State())

    init(configuration: SQLPostgresConfiguration, limit: Int, group: any EventLoopGroup, logger: Logger) {
        var configuration = configuration
        // A server that does not answer is reported in seconds.
        configuration.coreConfiguration.options.connectTimeout = .seconds(5)
        self.configuration = configuration
        self.group = group
        self.limit = max(1, limit)
        self.logger = logger
    }

    /// A connection for the caller alone; give it back with `release`.
    func take() async throws -> PostgresConnection {
        let id = state.withLock { state -> UInt64 in
            defer { state.nextID += 1 }
            return state.nextID
        }
        let grant = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Grant, any Error>) in
                let (grant, stale) = state.withLock { state -> (Result<Grant, any Error>?, [PostgresConnection]) in
                    guard !state.shutdown else { return (.failure(PoolError.shutdown), []) }
                    var stale: [PostgresConnection] = []
                    while let connection = state.idle.popLast() {
                        if !connection.isClosed { return (.success(.connection(connection)), stale) }
                        stale.append(connection)
                        state.open -= 1
                    }
                    if state.open < limit {
                        state.open += 1
                        return (.success(.slot), stale)
                    }
                    state.waiters.append(Waiter(id: id, continuation: continuation))
                    return (nil, stale)
                }
                stale.forEach { _ = $0.close() as EventLoopFuture<Void> }
                if let grant { continuation.resume(with: grant) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index)
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
        switch grant {
        case .connection(let connection):
            return connection
        case .slot:
            do {
                return try await connect()
            } catch {
                freeSlot()
                throw error
            }
        }
    }

    /// Most time to open a connection, start-up and authentication included
    /// (the connect timeout covers only the TCP connection).
    static let connectTimeout = TimeAmount.seconds(10)

    /// Opens a connection, or fails after `connectTimeout`; a connection
    /// that comes after that is closed.
    private func connect() async throws -> PostgresConnection {
        let eventLoop = group.any()
        let promise = eventLoop.makePromise(of: PostgresConnection.self)
        let first = FirstOnly()
        let timeout = eventLoop.scheduleTask(in: Self.connectTimeout) {
            if first.claim() {
                promise.fail(
                    PoolError(description: "connecting to PostgreSQL took longer than \(Self.connectTimeout.nanoseconds / 1_000_000_000) s")
                )
            }
        }
        PostgresConnectionSource(sqlConfiguration: configuration).makeConnection(logger: logger, on: eventLoop).whenComplete { result in
            timeout.cancel()
            guard first.claim() else {
                if case .success(let connection) = result { _ = connection.close() as EventLoopFuture<Void> }
                return
            }
            promise.completeWith(result)
        }
        return try await promise.futureResult.get()
    }

    /// Lets only the first of several callers through.
    private final class FirstOnly: Sendable {
        private let done = Mutex(false)

        func claim() -> Bool {
            done.withLock { done in
                defer { done = true }
                return !done
            }
        }
    }

    /// Gives a connection back: to the next waiter, or to the idle ones.
    func release(_ connection: PostgresConnection) {
        guard !connection.isClosed else {
            freeSlot()
            return
        }
        let (waiter, close) = state.withLock { state -> (Waiter?, Bool) in
            if state.shutdown {
                state.open -= 1
                return (nil, true)
            }
            if !state.waiters.isEmpty { return (state.waiters.removeFirst(), false) }
            state.idle.append(connection)
            return (nil, false)
        }
        if close { _ = connection.close() as EventLoopFuture<Void> }
        waiter?.continuation.resume(returning: .connection(connection))
    }

    /// A connection is gone (or was never made): its room goes to the
    /// next waiter, who opens one of its own.
    private func freeSlot() {
        let waiter = state.withLock { state -> Waiter? in
            guard !state.shutdown, !state.waiters.isEmpty else {
                state.open -= 1
                return nil
            }
            return state.waiters.removeFirst()
        }
        waiter?.continuation.resume(returning: .slot)
    }

    /// Closes the idle connections, and each lent one when it comes back;
    /// fails the waiters.
    func shutdown() async {
        let (idle, waiters) = state.withLock { state -> ([PostgresConnection], [Waiter]) in
            state.shutdown = true
            defer {
                state.open -= state.idle.count
                state.idle = []
                state.waiters = []
            }
            return (state.idle, state.waiters)
        }
        waiters.forEach { $0.continuation.resume(throwing: PoolError.shutdown) }
        for connection in idle { try? await connection.close() }
    }

    struct PoolError: Error, CustomStringConvertible {
        static let shutdown = PoolError(description: "the database connection pool is shut down")
        var description: String
    }
}
