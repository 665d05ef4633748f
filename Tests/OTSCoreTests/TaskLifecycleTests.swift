import Testing

@testable import OTSCore

@Suite struct TaskLifecycleTests {
    @Test func aTaskIsClaimedStartedAndFinishedByItsOwner() {
        var task = TaskLifecycle()
        let claim = task.handle(.claim(owner: "w1"))
        #expect(claim.write == .claim(owner: "w1"))
        #expect(claim.state == .claimed(owner: "w1"))
        #expect(claim.events.map(\.type) == [.taskClaimed, .workerBusy])
        #expect(claim.events.allSatisfy { $0.details?["worker"] == "w1" })
        #expect(task.attempts == 1)
        #expect(claim.attempt == 1)
        #expect(task.handle(.start(owner: "w1")).write == .start)
        #expect(task.state == .running(owner: "w1"))
        #expect(task.handle(.start(owner: "w1")).isIgnored, "a repeated start changes nothing")
        let beat = task.handle(.heartbeat(owner: "w1"))
        #expect(beat.write == .renewLease)
        #expect(beat.state == .running(owner: "w1"))
        let finish = task.handle(.finish(owner: "w1", .pass))
        #expect(finish.write == .end)
        #expect(finish.state == .finished(.pass))
        #expect(finish.events.map(\.type) == [.taskFinished, .workerFree])
        #expect(finish.events.first?.verdict == .pass)
        #expect(finish.events.first?.details?["state"] == "finished")
        #expect(finish.stopOwner == nil)
        // A resent finish is harmless.
        #expect(task.handle(.finish(owner: "w1", .pass)).isIgnored)
    }

    @Test func othersCannotActOnATaskTheyDoNotHold() {
        var task = TaskLifecycle(state: .claimed(owner: "w1"), attempts: 1)
        #expect(task.handle(.start(owner: "w2")).rejection == "the task is held by w1")
        #expect(task.handle(.heartbeat(owner: "w2")).rejection == "the task is held by w1")
        #expect(task.handle(.finish(owner: "w2", .pass)).rejection == "the task is held by w1")
        #expect(task.handle(.putBack(owner: "w2", attempt: 1, reason: "gone")).rejection == "the task is held by w1")
        #expect(task.handle(.finish(owner: "w2", .pass)).write == nil)
        #expect(task.state == .claimed(owner: "w1"))
        var queued = TaskLifecycle()
        #expect(queued.handle(.finish(owner: "w1", .pass)).rejection == "the task is not claimed")
        #expect(queued.handle(.heartbeat(owner: "w1")).write == nil)
    }

    @Test func aLostLeaseRequeuesOnceThenFailsAsInfrastructure() {
        var task = TaskLifecycle(maxAttempts: 2)
        _ = task.handle(.claim(owner: "w1"))
        _ = task.handle(.start(owner: "w1"))
        let requeue = task.handle(.leaseExpired)
        #expect(requeue.write == .requeue)
        #expect(requeue.wakeClaims, "waiting claims look again")
        #expect(requeue.events.map(\.type) == [.taskRequeued])
        #expect(requeue.events.first?.details == ["worker": "w1", "reason": "lease expired"])
        #expect(task.state == .queued)
        _ = task.handle(.claim(owner: "w2"))
        #expect(task.attempts == 2)
        let fail = task.handle(.leaseExpired)
        #expect(fail.write == .end)
        #expect(task.state == .failed(.infrastructure, "the worker w2 stopped answering (lease expired after 2 attempts)"))
        #expect(fail.events.map(\.type) == [.failure, .taskFinished], "the server found this failure: it is news")
        #expect(fail.events.last?.error?.category == .infrastructure)
        // The first owner, back from the dead, is turned away.
        #expect(task.handle(.heartbeat(owner: "w1")).rejection == "the task has ended")
    }

    @Test func timeoutsEndInAClearStateWithACategory() {
        var waiting = TaskLifecycle()
        let queueTimeout = waiting.handle(.queueTimeout(seconds: 600))
        #expect(queueTimeout.write == .end)
        #expect(queueTimeout.events.map(\.type) == [.taskTimedOut, .failure, .taskFinished])
        #expect(waiting.state == .failed(.infrastructure, "no worker took the task within 600 s"))
        var running = TaskLifecycle(state: .running(owner: "w1"), attempts: 1)
        let executionTimeout = running.handle(.executionTimeout(seconds: 3600))
        #expect(executionTimeout.write == .end)
        #expect(executionTimeout.stopOwner == "w1")
        #expect(running.state == .failed(.infrastructure, "the task ran longer than its 3600 s"))
    }

    @Test func cancelStopsTheOwnerAndIsIdempotent() {
        var task = TaskLifecycle(state: .running(owner: "w1"), attempts: 1)
        let cancel = task.handle(.cancel)
        #expect(cancel.write == .end)
        #expect(cancel.stopOwner == "w1")
        #expect(cancel.events.map(\.type) == [.taskFinished])
        #expect(cancel.events.first?.details?["state"] == "cancelled")
        #expect(task.state == .cancelled)
        #expect(task.handle(.cancel).isIgnored)
        // Its last owner's late report is acknowledged; another's is refused.
        #expect(task.handle(.finish(owner: "w1", .pass)).isIgnored)
        #expect(task.handle(.finish(owner: "w2", .pass)).rejection == "the task has ended")
        #expect(task.handle(.heartbeat(owner: "w1")).rejection == "the task has ended")
        var queued = TaskLifecycle()
        let cancelQueued = queued.handle(.cancel)
        #expect(cancelQueued.write == .end)
        #expect(cancelQueued.stopOwner == nil)
    }

    @Test func aWorkerFailureKeepsItsCategoryAndIsNotToldTwice() {
        var task = TaskLifecycle(state: .running(owner: "w1"), attempts: 1)
        let fail = task.handle(.fail(owner: "w1", .device, "flash failed after 3 tries"))
        #expect(fail.write == .end)
        #expect(task.state == .failed(.device, "flash failed after 3 tries"))
        // The worker told of its failure itself.
        #expect(fail.events.map(\.type) == [.taskFinished, .workerFree])
        #expect(fail.events.first?.error?.category == .device)
    }

    @Test func aClaimThatNeverReachedItsWorkerIsUndone() {
        var task = TaskLifecycle(state: .queued, attempts: 1)
        _ = task.handle(.claim(owner: "w2"))
        #expect(task.attempts == 2)
        #expect(task.handle(.putBack(owner: "w2", attempt: 1, reason: "gone")).rejection != nil, "not this attempt")
        let back = task.handle(.putBack(owner: "w2", attempt: 2, reason: "its connection closed"))
        #expect(back.write == .undoClaim)
        #expect(back.attempt == 2)
        #expect(back.wakeClaims)
        #expect(back.events.map(\.type) == [.taskRequeued, .workerFree])
        #expect(back.events.first?.details?["reason"] == "its connection closed")
        #expect(task.state == .queued)
        #expect(task.attempts == 1, "the undone attempt does not count")
        // A started task is not put back: its worker has it.
        var running = TaskLifecycle(state: .running(owner: "w1"), attempts: 1)
        #expect(running.handle(.putBack(owner: "w1", attempt: 1, reason: "gone")).write == nil)
    }
}
