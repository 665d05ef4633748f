import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// Wakes claims waiting for work when this server enqueues tasks; waits
/// end after a timeout too, so that tasks enqueued by another replica are
/// found by polling. The farm keeps a second one for testruns' ends
/// (`request_sync`).
final class TaskSignal: Sendable {
    private enum Waiter {
        /// About to wait.
        case pending
        case waiting(CheckedContinuation<Void, Never>)
        /// Woken before it started waiting.
        case woken
    }

    private struct State {
        var generation: UInt64 = 0
        var waiters: [UInt64: Waiter] = [:]
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    /// Read before looking for work; pass to `wait` so that work enqueued in
    /// between is not missed.
    var generation: UInt64 { state.withLock { $0.generation } }

    /// Waits under way (for tests: none is left behind when they end).
    var waits: Int { state.withLock { $0.waiters.count } }

    /// Wakes every waiting claim.
    func notify() {
        let woken = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.generation &+= 1
            var continuations: [CheckedContinuation<Void, Never>] = []
            for (id, waiter) in state.waiters {
                if case .waiting(let continuation) = waiter { continuations.append(continuation) }
                state.waiters[id] = .woken
            }
            return continuations
        }
        for continuation in woken { continuation.resume() }
    }

    /// Waits until `notify` (after `generation`), the timeout or
    /// cancellation, whichever comes first. One continuation, resumed by
    /// whichever comes first: a notify wakes the waiting claim directly,
    /// with no other task to schedule on the way.
    func wait(after generation: UInt64, upTo timeout: Duration) async {
        let id = state.withLock { state -> UInt64 in
            state.nextID &+= 1
            state.waiters[state.nextID] = .pending
            return state.nextID
        }
        let timer = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: TimeAmount(timeout)) { self.wake(id) }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if state.generation != generation { return true }
                    if case .woken = state.waiters[id] { return true }
                    state.waiters[id] = .waiting(continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            wake(id)
        }
        timer.cancel()
        state.withLock { _ = $0.waiters.removeValue(forKey: id) }
    }

    /// Ends one wait; a wait that has ended already (its timer fired late)
    /// is not there any more and stays gone.
    func wake(_ id: UInt64) {
        let continuation = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiters[id] else { return nil }
            state.waiters[id] = .woken
            if case .waiting(let continuation) = waiter { return continuation }
            return nil
        }
        continuation?.resume()
    }
}
