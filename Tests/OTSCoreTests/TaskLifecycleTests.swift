import Testing

@testable import OTSCore

@Suite struct TaskLifecycleTests {
    @Test func aTaskIsClaimedStartedAndFinishedByItsOwner() {
        var task = TaskLifecycle()
        #expect(task.handle(.claim(owner: "w1")) == .transition)
        #expect(task.attempts == 1)
        #expect(task.handle(.start(owner: "w1")) == .transition)
        #expect(task.handle(.heartbeat(owner: "w1")) == .renewLease)
        #expect(task.handle(.finish(owner: "w1", .pass)) == .transition)
        #expect(task.state == .finished(.pass))
        // A resent finish is harmless.
        #expect(task.handle(.finish(owner: "w1", .pass)) == .ignore)
    }

    @Test func othersCannotActOnATaskTheyDoNotHold() {
        var task = TaskLifecycle(state: .claimed(owner: "w1"), attempts: 1)
        #expect(task.handle(.start(owner: "w2")) == .reject("the task is held by w1"))
        #expect(task.handle(.heartbeat(owner: "w2")) == .reject("the task is held by w1"))
        #expect(task.handle(.finish(owner: "w2", .pass)) == .reject("the task is held by w1"))
        #expect(task.state == .claimed(owner: "w1"))
        var queued = TaskLifecycle()
        #expect(queued.handle(.finish(owner: "w1", .pass)) == .reject("the task is not claimed"))
    }

    @Test func aLostLeaseRequeuesOnceThenFailsAsInfrastructure() {
        var task = TaskLifecycle(maxAttempts: 2)
        _ = task.handle(.claim(owner: "w1"))
        _ = task.handle(.start(owner: "w1"))
        #expect(task.handle(.leaseExpired) == .requeue)
        #expect(task.state == .queued)
        _ = task.handle(.claim(owner: "w2"))
        #expect(task.attempts == 2)
        #expect(task.handle(.leaseExpired) == .transition)
        #expect(task.state == .failed(.infrastructure, "the worker w2 stopped answering (lease expired after 2 attempts)"))
        // The first owner, back from the dead, is turned away.
        #expect(task.handle(.heartbeat(owner: "w1")) == .reject("the task has ended"))
    }

    @Test func timeoutsEndInAClearStateWithACategory() {
        var waiting = TaskLifecycle()
        #expect(waiting.handle(.queueTimeout(seconds: 600)) == .transition)
        #expect(waiting.state == .failed(.infrastructure, "no worker took the task within 600 s"))
        var running = TaskLifecycle(state: .running(owner: "w1"), attempts: 1)
        #expect(running.handle(.executionTimeout(seconds: 3600)) == .transitionAndStopOwner("w1"))
        #expect(running.state == .failed(.infrastructure, "the task ran longer than its 3600 s"))
    }

    @Test func cancelStopsTheOwnerAndIsIdempotent() {
        var task = TaskLifecycle(state: .running(owner: "w1"), attempts: 1)
        #expect(task.handle(.cancel) == .transitionAndStopOwner("w1"))
        #expect(task.state == .cancelled)
        #expect(task.handle(.cancel) == .ignore)
        #expect(task.handle(.finish(owner: "w1", .pass)) == .reject("the task has ended"))
        var queued = TaskLifecycle()
        #expect(queued.handle(.cancel) == .transition)
    }

    @Test func aWorkerFailureKeepsItsCategory() {
        var task = TaskLifecycle(state: .running(owner: "w1"), attempts: 1)
        #expect(task.handle(.fail(owner: "w1", .device, "flash failed after 3 tries")) == .transition)
        #expect(task.state == .failed(.device, "flash failed after 3 tries"))
    }
}
