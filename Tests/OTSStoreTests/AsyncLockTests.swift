import Foundation
import OTSTestSupport
import Synchronization
import Testing

@testable import OTSStore

/// Waits until `condition` holds, for at most `limit`.
func until(_ what: String, within limit: Duration = .seconds(30), _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + limit
    while !condition() {
        guard ContinuousClock.now < deadline else {
            Issue.record("\(what) did not happen within \(limit)")
            throw CancellationError()
        }
        try await Task.sleep(for: .milliseconds(1))
    }
}

@Suite(.timeLimit(.minutes(1))) struct AsyncLockTests {
    /// The order in which tasks got the lock.
    final class Order: Sendable {
        private let names = Mutex<[String]>([])
        func append(_ name: String) { names.withLock { $0.append(name) } }
        var all: [String] { names.withLock { $0 } }
    }

    @Test func waitersGetTheLockInTheOrderTheyCame() async throws {
        let lock = AsyncLock()
        let order = Order()
        try await lock.lock()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, name) in ["a", "b", "c"].enumerated() {
                group.addTask {
                    try await lock.lock()
                    order.append(name)
                    lock.unlock()
                }
                try await until("waiter \(name) queued") { lock.waiting == index + 1 }
            }
            #expect(order.all.isEmpty)
            lock.unlock()
            try await group.waitForAll()
        }
        #expect(order.all == ["a", "b", "c"])
        #expect(lock.waiting == 0)
    }

    @Test func aWaiterCancelledWhileItWaitsThrowsAndLeavesTheQueue() async throws {
        let lock = AsyncLock()
        let order = Order()
        try await lock.lock()
        let first = Task {
            try await lock.lock()
            order.append("first")
            lock.unlock()
        }
        try await until("the first waiter queued") { lock.waiting == 1 }
        let cancelled = Task {
            try await lock.lock()
            order.append("cancelled")
            lock.unlock()
        }
        try await until("the second waiter queued") { lock.waiting == 2 }
        let last = Task {
            try await lock.lock()
            order.append("last")
            lock.unlock()
        }
        try await until("the third waiter queued") { lock.waiting == 3 }

        cancelled.cancel()
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        #expect(lock.waiting == 2)
        #expect(order.all.isEmpty)

        lock.unlock()
        try await first.value
        try await last.value
        #expect(order.all == ["first", "last"])
        // Nobody holds the lock: it is taken at once, with no waiter queued.
        try await lock.lock()
        #expect(lock.waiting == 0)
        lock.unlock()
    }

    @Test func aTaskCancelledBeforeItWaitsThrowsAndTheHolderKeepsTheLock() async throws {
        let lock = AsyncLock()
        try await lock.lock()
        let started = Mutex(false)
        let waiter = Task {
            while !Task.isCancelled { await Task.yield() }
            started.withLock { $0 = true }
            try await lock.lock()
            Issue.record("a cancelled task got a lock that was held")
            lock.unlock()
        }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(started.withLock { $0 })
        #expect(lock.waiting == 0)
        // Still held: a new waiter queues until the holder unlocks.
        let next = Task { try await lock.lock() }
        try await until("the next waiter queued") { lock.waiting == 1 }
        lock.unlock()
        try await next.value
        #expect(lock.waiting == 0)
        lock.unlock()
    }

    @Test func aFreeLockIsTakenEvenByACancelledTask() async throws {
        let lock = AsyncLock()
        let task = Task {
            while !Task.isCancelled { await Task.yield() }
            try await lock.lock()
            lock.unlock()
            return true
        }
        task.cancel()
        #expect(try await task.value)
    }

    @Test func withLockFreesTheLockWhenItsBodyThrows() async throws {
        struct Failed: Error {}
        let lock = AsyncLock()
        await #expect(throws: Failed.self) { try await lock.withLock { throw Failed() } }
        // Free again: taken at once.
        #expect(try await lock.withLock { 42 } == 42)
    }
}
