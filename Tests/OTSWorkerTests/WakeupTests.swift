import Foundation
import OTSCore
import OTSTestSupport
import Synchronization
import Testing

@testable import OTSWorker

/// The spool sender sleeps until a message is added: a wait that timed out
/// leaves the next one waiting, not returning at once (a spinning sender
/// once burnt a core on an idle worker).
@Suite(.timeLimit(.minutes(1))) struct WakeupTests {
    /// Whether a wait under way has returned.
    final class Returned: Sendable {
        let value = Mutex(false)
        var now: Bool { value.withLock { $0 } }
        func set() { value.withLock { $0 = true } }
    }

    @Test func aWaitAfterATimedOutOneWaitsForTheNextWake() async throws {
        let wakeup = Wakeup()
        await wakeup.wait(upTo: .milliseconds(5))
        let returned = Returned()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                await wakeup.wait(upTo: .seconds(60))
                returned.set()
            }
            // Sampling: a wait that returns at once would have by now.
            try await Task.sleep(for: .milliseconds(300))
            #expect(!returned.now, "the wait returned with nothing to wake it")
            wakeup.wake()
            try await eventually("the wake ended the wait", within: .seconds(10), every: .milliseconds(10)) { returned.now }
            group.cancelAll()
        }
    }

    @Test func aWakeWhileNobodyWaitsEndsTheNextWaitAtOnceAndOnlyThatOne() async throws {
        let wakeup = Wakeup()
        wakeup.wake()
        wakeup.wake()
        let clock = ContinuousClock()
        let start = clock.now
        await wakeup.wait(upTo: .seconds(60))
        #expect(clock.now - start < .seconds(30), "the kept wake ended the wait")
        let returned = Returned()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                await wakeup.wait(upTo: .seconds(60))
                returned.set()
            }
            try await Task.sleep(for: .milliseconds(300))
            #expect(!returned.now, "two wakes while nobody waited are kept as one")
            group.cancelAll()
            try await eventually("cancellation ends a wait", within: .seconds(10), every: .milliseconds(10)) { returned.now }
        }
    }

    @Test func aSpoolsWaitEndsWhenAMessageIsAddedEvenAfterATimeout() async throws {
        let folder = try TemporaryDirectory()
        let spool = try Spool(directory: folder.path)
        await spool.waitForMessages(upTo: .milliseconds(5))
        let returned = Returned()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                await spool.waitForMessages(upTo: .seconds(60))
                returned.set()
            }
            try await Task.sleep(for: .milliseconds(300))
            #expect(!returned.now, "the wait returned with nothing added")
            try spool.add(.finish(taskID: "t1", TaskFinish(workerID: "w1", verdict: .pass)))
            try await eventually("adding a message ended the wait", within: .seconds(10), every: .milliseconds(10)) { returned.now }
            group.cancelAll()
        }
    }
}
