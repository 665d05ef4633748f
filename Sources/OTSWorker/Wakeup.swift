import Synchronization

/// Wakes whoever waits when something happens; a wake while nobody waits
/// is kept for the next wait. Waits end after a timeout, or on
/// cancellation, too.
///
/// (An `AsyncStream` cannot do this job: cancelling the task that waits on
/// its iterator, as a timeout must, finishes the stream for good, and
/// every later wait returns at once: the waiting loop spins.)
final class Wakeup: Sendable {
    private enum Waiter {
        /// Counted in, not yet suspended.
        case starting
        case waiting(CheckedContinuation<Void, Never>)
        /// Woken (or timed out, or cancelled) before it suspended.
        case woken
    }

    private struct State {
        /// A wake that came while nobody waited.
        var pending = false
        var waiters: [UInt64: Waiter] = [:]
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    /// Wakes every wait under way, or else the next one.
    func wake() {
        let woken = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard !state.waiters.isEmpty else {
                state.pending = true
                return []
            }
            var continuations: [CheckedContinuation<Void, Never>] = []
            for (id, waiter) in state.waiters {
                if case .waiting(let continuation) = waiter { continuations.append(continuation) }
                state.waiters[id] = .woken
            }
            return continuations
        }
        for continuation in woken { continuation.resume() }
    }

    /// Returns when woken (at once when a wake came since the last wait),
    /// after `timeout`, or when the task is cancelled.
    func wait(upTo timeout: Duration) async {
        let id = state.withLock { state -> UInt64? in
            if state.pending {
                state.pending = false
                return nil
            }
            state.nextID &+= 1
            state.waiters[state.nextID] = .starting
            return state.nextID
        }
        guard let id else { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                try? await Task.sleep(for: timeout)
                self.end(id)
            }
            await withTaskCancellationHandler {
                await withCheckedContinuation { continuation in
                    let now = state.withLock { state -> Bool in
                        if case .woken = state.waiters[id] { return true }
                        state.waiters[id] = .waiting(continuation)
                        return false
                    }
                    if now { continuation.resume() }
                }
            } onCancel: {
                self.end(id)
            }
            group.cancelAll()
        }
        state.withLock { _ = $0.waiters.removeValue(forKey: id) }
    }

    /// Ends the wait `id`, whether it has begun or not.
    private func end(_ id: UInt64) {
        let continuation = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiters[id] else { return nil }
            state.waiters[id] = .woken
            if case .waiting(let continuation) = waiter { return continuation }
            return nil
        }
        continuation?.resume()
    }
}
