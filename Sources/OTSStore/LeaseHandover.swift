import PostgresNIO
import Synchronization

/// Hands a leased PostgreSQL connection from the task that holds the lease
/// to the one that uses it, so that the user can give up waiting for one.
///
/// PostgresClient (1.33) keeps a lease waiting while it cannot connect
/// until its circuit breaker trips, a minute later, and that wait cannot be
/// configured. So the lease is taken in a child task, which lends the
/// connection on (`lend`) and keeps it until it is given back; the user
/// waits for it (`connection`) until `fail` says why there is none: the
/// lease failed, or the wait took too long. A connection lent after that
/// goes back to the pool at once.
final class LeaseHandover: Sendable {
    private struct State {
        /// The first of: the connection, or why there is none.
        var outcome: Result<PostgresConnection, any Error>?
        var taker: CheckedContinuation<PostgresConnection, any Error>?
        var lender: CheckedContinuation<Void, Never>?
        var returned = false
    }

    private let state = Mutex(State())

    /// Lends the connection (unless the wait for it has ended) and returns
    /// once it is given back.
    func lend(_ connection: PostgresConnection) async {
        await withCheckedContinuation { (lender: CheckedContinuation<Void, Never>) in
            let (taker, keep) = state.withLock { state -> (CheckedContinuation<PostgresConnection, any Error>?, Bool) in
                guard state.outcome == nil else { return (nil, false) }
                state.outcome = .success(connection)
                defer { state.taker = nil }
                if state.returned { return (state.taker, false) }
                state.lender = lender
                return (state.taker, true)
            }
            taker?.resume(returning: connection)
            if !keep { lender.resume() }
        }
    }

    /// Ends the wait for a connection with `error`, unless one was lent.
    func fail(_ error: any Error) {
        let taker = state.withLock { state -> CheckedContinuation<PostgresConnection, any Error>? in
            guard state.outcome == nil else { return nil }
            state.outcome = .failure(error)
            defer { state.taker = nil }
            return state.taker
        }
        taker?.resume(throwing: error)
    }

    /// The lent connection, or the error that ended the wait for it.
    func connection() async throws -> PostgresConnection {
        try await withCheckedThrowingContinuation { taker in
            let outcome = state.withLock { state -> Result<PostgresConnection, any Error>? in
                if let outcome = state.outcome { return outcome }
                state.taker = taker
                return nil
            }
            if let outcome { taker.resume(with: outcome) }
        }
    }

    /// The user is done with the connection (or never got it): the lender
    /// may return it to the pool.
    func giveBack() {
        let lender = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.returned = true
            defer { state.lender = nil }
            return state.lender
        }
        lender?.resume()
    }
}
