import Foundation
import OTSCore
import OTSTestSupport
import Testing

@testable import OTSStore

/// The one write of task and testrun state: what the lifecycle decides,
/// written as a compare-and-set on the state it was decided from.
@Suite struct LifecycleWriteContractTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    /// A queued task of a new testrun in group g; its testrun's id and its id.
    func queuedTask(_ store: Store) async throws -> (testrun: String, task: String) {
        try await store.transaction { (tx: StoreTransaction) async throws in try await FarmContractTests().testrun(tx, at: start) }
    }

    @Test(arguments: Engine.available)
    func aDecisionOnAStaleTaskLosesAndChangesNothing(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            let (_, taskID) = try await queuedTask(store)
            let claimed = try #require(
                try await store.transaction { try await $0.claim(owner: "w1", routingKeys: ["g"], lease: .seconds(10), at: start) })
            // What a second replica read before the first wrote.
            let stale = try #require(try await store.transaction { try await $0.task(id: taskID) })
            let finished = try await store.transaction { try await $0.perform(.finish(owner: "w1", .pass), on: claimed, at: start) }
            #expect(finished.isWritten)
            #expect(finished.task.state == .finished)
            #expect(finished.task.verdict == "PASS")

            for input: TaskLifecycle.Input in [.cancel, .leaseExpired, .executionTimeout(seconds: 1), .heartbeat(owner: "w1")] {
                let late = try await store.transaction { try await $0.perform(input, on: stale, lease: .seconds(10), at: start) }
                #expect(late.lost, "\(input): decided on a task that has changed since")
                #expect(!late.isWritten)
            }
            let task = try #require(try await store.transaction { try await $0.task(id: taskID) })
            #expect(task.state == .finished)
            #expect(task.verdict == "PASS")
            #expect(task.leaseExpiresAt == nil)
        }
    }

    @Test(arguments: Engine.available)
    func eachWriteSetsWhatItsStateNeeds(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            let (_, taskID) = try await queuedTask(store)
            try await store.transaction { (tx: StoreTransaction) async throws in
                let claim = try #require(try await tx.perform(.claim(owner: "w1"), onTask: taskID, lease: .seconds(30), at: start))
                #expect(claim.task.state == .claimed)
                #expect(claim.task.owner == "w1")
                #expect(claim.task.attempts == 1)
                #expect(claim.task.leaseExpiresAt == start.addingTimeInterval(30))
                #expect(try await tx.heldAttempts(taskID: taskID, owner: "w1") == [1])

                let later = start.addingTimeInterval(5)
                let started = try #require(try await tx.perform(.start(owner: "w1"), onTask: taskID, at: later))
                #expect(started.task.startedAt == later)
                let renewed = try #require(try await tx.perform(.heartbeat(owner: "w1"), onTask: taskID, lease: .seconds(30), at: later))
                #expect(renewed.task.leaseExpiresAt == later.addingTimeInterval(30))
                #expect(TaskLifecycle(record: renewed.task, maxAttempts: 2).state == .running(owner: "w1"))

                let requeued = try #require(try await tx.perform(.leaseExpired, onTask: taskID, at: later))
                #expect(requeued.action.write == .requeue)
                #expect(requeued.task.state == .queued)
                #expect(requeued.task.owner == nil)
                #expect(requeued.task.startedAt == nil, "the lost attempt's progress is cleared")
                #expect(requeued.task.attempts == 1, "attempts are kept")

                _ = try await tx.perform(.claim(owner: "w2"), onTask: taskID, lease: .seconds(30), at: later)
                let failed = try #require(
                    try await tx.perform(.fail(owner: "w2", .device, "flash failed"), onTask: taskID, at: later))
                #expect(failed.task.state == .failed)
                #expect(failed.task.errorCategory == "device")
                #expect(failed.task.errorMessage == "flash failed")
                #expect(failed.task.finishedAt == later)
                #expect(failed.task.leaseExpiresAt == nil)
            }
        }
    }

    @Test(arguments: Engine.available)
    func aTestrunIsStartedAndEndedByCompareAndSet(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            let (testrunID, _) = try await queuedTask(store)
            let queued = try #require(try await store.transaction { try await $0.testrun(id: testrunID) })
            let started = try await store.transaction { try await $0.perform(.taskStarted, on: queued, at: start) }
            #expect(started.isWritten)
            let running = try #require(try await store.transaction { try await $0.testrun(id: testrunID) })
            #expect(running.state == .running)
            #expect(running.startedAt == start)
            // Deciding again from the queued record loses.
            #expect(try await store.transaction { try await $0.perform(.cancel, on: queued, at: start) }.lost)
            let decision = VerdictRules.Decision(verdict: .fail)
            let end = start.addingTimeInterval(9)
            #expect(
                try await store.transaction { try await $0.perform(.tasksEnded(decision, errorIsNew: false), on: running, at: end) }
                    .isWritten)
            let finished = try #require(try await store.transaction { try await $0.testrun(id: testrunID) })
            #expect(finished.state == .finished)
            #expect(finished.verdict == "FAIL")
            #expect(finished.finishedAt == end)
        }
    }

    @Test(
        .enabled(if: Engine.postgresURL != nil, "needs PostgreSQL: OTS_TEST_POSTGRES_URL (./scripts/test.sh starts a cluster)"),
        .timeLimit(.minutes(1)))
    func twoReplicasDecidingOnOneTaskAtOnceCannotBothWin() async throws {
        try await withStore(.postgres) { store, _ in
            let (_, taskID) = try await queuedTask(store)
            _ = try await store.transaction { try await $0.claim(owner: "w1", routingKeys: ["g"], lease: .seconds(10), at: start) }
            // Both read the claimed task, then both decide: the worker's
            // finish and the sweeper's execution timeout.
            let barrier = Barrier(parties: 2)
            func decide(_ input: TaskLifecycle.Input) async throws -> TaskChange {
                try await store.transaction { tx in
                    let task = try #require(try await tx.task(id: taskID))
                    await barrier.arrive()
                    return try await tx.perform(input, on: task, at: start)
                }
            }
            async let finish = decide(.finish(owner: "w1", .pass))
            async let timeout = decide(.executionTimeout(seconds: 1))
            let changes = try await [finish, timeout]
            #expect(changes.filter(\.isWritten).count == 1, "exactly one replica wins")
            #expect(changes.filter(\.lost).count == 1, "the other finds the task changed")
            let task = try #require(try await store.transaction { try await $0.task(id: taskID) })
            let winner = try #require(changes.first { $0.isWritten })
            #expect(task.state == winner.task.state)
        }
    }

    /// What a worker's `task.started` does: its task's row is updated twice
    /// (its phase, then its start), and then its testrun is locked. On
    /// PostgreSQL the second update takes the testrun's row `FOR KEY SHARE`
    /// (the foreign key's check on a row this transaction wrote), so a
    /// testrun lock that conflicts with it made two tasks of one testrun
    /// starting at once deadlock (SQLSTATE 40P01).
    @Test(
        .enabled(if: Engine.postgresURL != nil, "needs PostgreSQL: OTS_TEST_POSTGRES_URL (./scripts/test.sh starts a cluster)"),
        .timeLimit(.minutes(1)))
    func twoTasksOfOneTestrunStartingAtOnceDoNotDeadlock() async throws {
        try await withStore(.postgres) { store, _ in
            let testrunID = UUID().uuidString.lowercased()
            let tasks = (0..<2).map { NewTask(testrunID: testrunID, sequence: $0, routingKey: "g", work: "{}") }
            try await store.transaction { tx in
                try await tx.insertTestrun(
                    id: testrunID, request: "{}", deviceGroup: "g", requestor: nil, priority: 0, deadline: nil, at: start)
                try await tx.enqueue(tasks, at: start)
            }
            for owner in ["w1", "w2"] {
                _ = try #require(
                    try await store.transaction { try await $0.claim(owner: owner, routingKeys: ["g"], lease: .seconds(10), at: start) })
            }
            let barrier = Barrier(parties: 2)
            func started(_ owner: String) async throws -> Bool {
                try await store.transaction { tx in
                    let claimed = try #require(try await tx.tasks(testrunID: testrunID).first { $0.owner == owner })
                    #expect(try await tx.recordProgress(taskID: claimed.id, owner: owner, TaskProgress(phase: "image"), at: start))
                    let change = try #require(try await tx.perform(.start(owner: owner), onTask: claimed.id, at: start))
                    #expect(change.isWritten)
                    // Both have written their task before either locks the testrun.
                    await barrier.arrive()
                    let testrun = try #require(try await tx.lockTestrun(id: testrunID))
                    return try await tx.perform(.taskStarted, on: testrun, at: start).isWritten
                }
            }
            async let first = started("w1")
            async let second = started("w2")
            let written = try await [first, second]
            #expect(written.filter { $0 }.count == 1, "the first to lock the testrun starts it; the second finds it running")
            let testrun = try #require(try await store.transaction { try await $0.testrun(id: testrunID) })
            #expect(testrun.state == .running)
            let all = try await store.transaction { try await $0.tasks(testrunID: testrunID) }
            #expect(all.allSatisfy { $0.startedAt == start }, "both tasks started")
        }
    }
}

/// Lets `parties` tasks go on only once all of them have arrived.
actor Barrier {
    private let parties: Int
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(parties: Int) { self.parties = parties }

    func arrive() async {
        if waiting.count + 1 == parties {
            waiting.forEach { $0.resume() }
            waiting.removeAll()
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }
}
