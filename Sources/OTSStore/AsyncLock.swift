import Synchronization

/// A first-come, first-served lock for async code: waiting suspends the
/// task instead of blocking a thread. A task cancelled while it waits
/// leaves the queue and `lock` throws `CancellationError`; the lock stays
/// with whoever holds it, or passes to the next in line, so it is never
/// lost. A task that finds the lock free takes it, cancelled or not.
final class AsyncLock: Sendable {
    private struct Waiter {
        let id: UInt64
        /// Nil until the waiting task has suspended.
        var continuation: CheckedContinuation<Void, any Error>?
    }

    private struct State {
        var locked = false
        var nextID: UInt64 = 0
        /// In the order they came.
        var queue: [Waiter] = []
        /// Waiters handed the lock, or cancelled, before they suspended.
        var granted: Set<UInt64> = []
        var cancelled: Set<UInt64> = []
    }

    private enum Registered {
        case wait
        case proceed
        case cancelled
    }

    private let state = Mutex(State())

    /// Takes the lock, waiting for it in turn; throws `CancellationError`
    /// (without the lock) when the task is cancelled while it waits.
    func lock() async throws {
        let id = state.withLock { state -> UInt64? in
            if !state.locked {
                state.locked = true
                return nil
            }
            state.nextID &+= 1
            state.queue.append(Waiter(id: state.nextID))
            return state.nextID
        }
        guard let id else { return }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let registered = state.withLock { state -> Registered in
                    if state.granted.remove(id) != nil { return .proceed }
                    if state.cancelled.remove(id) != nil { return .cancelled }
                    if let index = state.queue.firstIndex(where: { $0.id == id }) {
                        state.queue[index].continuation = continuation
                    }
                    return .wait
                }
                switch registered {
                case .wait: break
                case .proceed: continuation.resume()
                case .cancelled: continuation.resume(throwing: CancellationError())
                }
            }
        } onCancel: {
            let continuation = state.withLock { state -> CheckedContinuation<Void, any Error>? in
                guard let index = state.queue.firstIndex(where: { $0.id == id }) else {
                    // Handed the lock already: it holds it, and unlocks it.
                    return nil
                }
                let waiter = state.queue.remove(at: index)
                if waiter.continuation == nil { state.cancelled.insert(id) }
                return waiter.continuation
            }
            continuation?.resume(throwing: CancellationError())
        }
    }

    /// Hands the lock to the next waiter, or frees it.
    func unlock() {
        let next = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            guard !state.queue.isEmpty else {
                state.locked = false
                return nil
            }
            let waiter = state.queue.removeFirst()
            if waiter.continuation == nil { state.granted.insert(waiter.id) }
            return waiter.continuation
        }
        next?.resume()
    }

    /// Runs `body` holding the lock, and frees it however `body` ends.
    func withLock<R: Sendable>(_ body: () async throws -> R) async throws -> R {
        try await lock()
        do {
            let result = try await body()
            unlock()
            return result
        } catch {
            unlock()
            throw error
        }
    }

    /// Tasks waiting for the lock (for tests).
    var waiting: Int { state.withLock { $0.queue.count } }
}
