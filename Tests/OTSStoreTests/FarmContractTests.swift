import Foundation
import OTSCore
import OTSTestSupport
import SQLKit
import Testing

@testable import OTSStore

/// The store operations the server's farm logic uses, on every engine.
@Suite struct FarmContractTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    func testrun(_ tx: StoreTransaction, group: String = "g", requestor: String? = nil, deadline: Date? = nil, at now: Date) async throws
        -> (String, String)
    {
        let id = UUID().uuidString.lowercased()
        try await tx.insertTestrun(
            id: id, request: "{}", deviceGroup: group, requestor: requestor, priority: 0, deadline: deadline, at: now)
        let task = NewTask(testrunID: id, sequence: 0, routingKey: group, work: "{}")
        try await tx.enqueue([task], at: now)
        return (id, task.id)
    }

    @Test(arguments: Engine.available)
    func eventIDsAreReceivedOnce(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            let first = try await store.transaction { try await $0.receiveEvents(ids: ["a", "b"], at: start) }
            #expect(first == ["a", "b"])
            let second = try await store.transaction { try await $0.receiveEvents(ids: ["b", "c", "c"], at: start) }
            #expect(second == ["c"])
            try await store.transaction { try await $0.forgetReceivedEvents(before: start.addingTimeInterval(1)) }
            let later = try await store.transaction { try await $0.receiveEvents(ids: ["a"], at: start) }
            #expect(later == ["a"], "forgotten ids count as new")
        }
    }

    @Test(arguments: Engine.available)
    func theReadsBeforeAWriteSeeExactlyTheWorkThatIsDue(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            func due(at seconds: Double, runningFor: Double = 100) async throws -> Bool {
                let now = start.addingTimeInterval(seconds)
                let queuedBefore = now.addingTimeInterval(-100)
                let claimedBefore = now.addingTimeInterval(-runningFor)
                return try await store.read { tx in
                    try await tx.hasSweepWork(at: now, queuedBefore: queuedBefore, claimedBefore: claimedBefore)
                }
            }
            func queued(_ keys: [String]) async throws -> Bool {
                try await store.read { tx in try await tx.hasQueued(routingKeys: keys) }
            }
            var now = try await due(at: 0)
            #expect(!now, "an empty farm has nothing to sweep")
            var waiting = try await queued(["g"])
            #expect(!waiting)
            let deadline = start.addingTimeInterval(500)
            let taskID = try await store.transaction { (tx: StoreTransaction) async throws in
                try await testrun(tx, deadline: deadline, at: start).1
            }
            waiting = try await queued(["x", "g"])
            #expect(waiting)
            waiting = try await queued(["x"])
            #expect(!waiting, "another device's queue")
            now = try await due(at: 50)
            #expect(!now)
            now = try await due(at: 101)
            #expect(now, "queued longer than the queue timeout")
            _ = try await store.transaction { (tx: StoreTransaction) async throws in
                try await tx.claim(owner: "w1", routingKeys: ["g"], lease: .seconds(10), at: start)
            }
            waiting = try await queued(["g"])
            #expect(!waiting, "claimed, no longer queued")
            now = try await due(at: 5)
            #expect(!now)
            now = try await due(at: 11)
            #expect(now, "the lease ran out")
            _ = try await store.transaction { (tx: StoreTransaction) async throws in
                try await tx.renewLease(taskID: taskID, owner: "w1", lease: .seconds(1000), at: start)
            }
            now = try await due(at: 11)
            #expect(!now)
            now = try await due(at: 60, runningFor: 50)
            #expect(now, "running longer than the execution timeout")
            now = try await due(at: 501)
            #expect(now, "the testrun is past its deadline")
        }
    }

    @Test(arguments: Engine.available)
    func onlyTheOwnerRecordsProgressAndTriesOnlyGrow(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            let taskID = try await store.transaction { (tx: StoreTransaction) async throws in
                let (_, task) = try await testrun(tx, at: start)
                _ = try await tx.claim(owner: "w1", routingKeys: ["g"], lease: .seconds(10), at: start)
                return task
            }
            try await store.transaction { (tx: StoreTransaction) async throws in
                #expect(try await tx.recordProgress(taskID: taskID, owner: "w2", TaskProgress(phase: "flash"), at: start) == false)
                #expect(try await tx.perform(.start(owner: "w2"), onTask: taskID, at: start)?.isWritten == false, "not w2's task")
                #expect(try await tx.perform(.start(owner: "w1"), onTask: taskID, at: start)?.isWritten == true)
                #expect(try await tx.recordProgress(taskID: taskID, owner: "w1", TaskProgress(phase: "flash", flashTry: 2), at: start))
                #expect(try await tx.recordProgress(taskID: taskID, owner: "w1", TaskProgress(flashTry: 1, bootTry: 1), at: start))
                #expect(try await tx.recordProgress(taskID: taskID, owner: "w1", TaskProgress(packageDone: true), at: start))
                #expect(try await tx.recordProgress(taskID: taskID, owner: "w1", TaskProgress(packageDone: true), at: start))
            }
            let task = try #require(try await store.transaction { try await $0.task(id: taskID) })
            #expect(task.phase == "flash")
            #expect(task.flashTries == 2, "a late, lower try does not lower it")
            #expect(task.bootTries == 1)
            #expect(task.packagesDone == 2)
            #expect(task.startedAt == start)
            let requeued = try #require(try await store.transaction { try await $0.perform(.leaseExpired, onTask: taskID, at: start) }).task
            #expect(requeued.phase == nil)
            #expect(requeued.packagesDone == 0)
            #expect(requeued.startedAt == nil)
        }
    }

    @Test(arguments: Engine.available)
    func theImageADeviceHoldsIsThatOfItsLastSuccessfulFlashInAnyTestrun(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            /// A testrun whose one task w1 claims at `seconds` and takes as far as `phases` go.
            func run(_ phases: [String], at seconds: Double, finish: Bool = true) async throws -> String {
                try await store.transaction { (tx: StoreTransaction) async throws in
                    let now = start.addingTimeInterval(seconds)
                    let (testrunID, taskID) = try await testrun(tx, at: now)
                    #expect(try await tx.claim(owner: "w1", routingKeys: ["g"], lease: .seconds(10), at: now)?.id == taskID)
                    if !phases.isEmpty { _ = try await tx.perform(.start(owner: "w1"), onTask: taskID, at: now) }
                    for phase in phases {
                        #expect(try await tx.recordProgress(taskID: taskID, owner: "w1", TaskProgress(phase: phase), at: now))
                    }
                    if finish { _ = try await tx.finish(taskID: taskID, owner: "w1", state: .finished, verdict: "PASS", at: now) }
                    return testrunID
                }
            }
            func held(_ owner: String = "w1") async throws -> String? {
                try await store.transaction { try await $0.lastFlashedTestrun(owner: owner)?.id }
            }
            #expect(try await held() == nil, "a device never flashed holds nothing known")
            let first = try await run(["image", "flash", "boot", "test", "upload"], at: 1)
            #expect(try await held() == first)
            // A later testrun that only downloaded its image leaves the device as it was.
            _ = try await run(["image"], at: 2)
            #expect(try await held() == first)
            // One whose flash did not succeed (it never booted): nothing known.
            _ = try await run(["image", "flash"], at: 3)
            #expect(try await held() == nil)
            // Flashed and booted, though its tests are still running.
            let last = try await run(["image", "flash", "boot"], at: 4, finish: false)
            #expect(try await held() == last)
            #expect(try await held("w2") == nil, "another worker's device")
        }
    }

    @Test(arguments: Engine.available)
    func filesKeepEveryByteAndAResendReplaces(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            let bytes = [UInt8](0...255) + [0, 0, 255]
            let (testrunID, taskID) = try await store.transaction { (tx: StoreTransaction) async throws in
                let ids = try await testrun(tx, at: start)
                try await tx.saveFile(FileRecord(taskID: ids.1, package: "p", name: "dump.bin", size: 0), content: [1, 2, 3], at: start)
                try await tx.saveFile(FileRecord(taskID: ids.1, package: "p", name: "dump.bin", size: 0), content: bytes, at: start)
                try await tx.saveFile(FileRecord(taskID: ids.1, package: "p", name: "a.txt", size: 0), content: [], at: start)
                return ids
            }
            let files = try await store.transaction { try await $0.files(testrunID: testrunID) }
            #expect(files.map(\.name) == ["a.txt", "dump.bin"])
            #expect(files.map(\.size) == [0, Int64(bytes.count)])
            let content = try await store.transaction { try await $0.fileContent(taskID: taskID, package: "p", name: "dump.bin") }
            #expect(content == bytes)
            #expect(try await store.transaction { try await $0.fileContent(taskID: taskID, package: "p", name: "none") } == nil)
        }
    }

    @Test(arguments: Engine.available)
    func timeoutQueriesFindWhatIsOverdue(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            let (overdueRun, waitingTask, runningTask) = try await store.transaction { (tx: StoreTransaction) async throws in
                let (run, _) = try await testrun(tx, deadline: start.addingTimeInterval(60), at: start)
                let (_, waiting) = try await testrun(tx, group: "nobody", at: start)
                let (_, running) = try await testrun(tx, group: "claimed", at: start)
                _ = try await tx.claim(owner: "w1", routingKeys: ["claimed"], lease: .seconds(1000), at: start.addingTimeInterval(5))
                return (run, waiting, running)
            }
            try await store.transaction { (tx: StoreTransaction) async throws in
                #expect(try await tx.overdueTestruns(at: start.addingTimeInterval(59)).isEmpty)
                #expect(try await tx.overdueTestruns(at: start.addingTimeInterval(61)).map(\.id) == [overdueRun])
                #expect(try await tx.tasksWaiting(since: start).isEmpty)
                #expect(Set(try await tx.tasksWaiting(since: start.addingTimeInterval(1)).map(\.id)).contains(waitingTask))
                #expect(try await tx.tasksRunning(since: start.addingTimeInterval(5)).isEmpty)
                #expect(try await tx.tasksRunning(since: start.addingTimeInterval(6)).map(\.id) == [runningTask])
                let ended = try await tx.perform(.queueTimeout(seconds: 1), onTask: waitingTask, at: start)
                #expect(ended?.task.state == .failed)
                #expect(try await tx.perform(.cancel, onTask: waitingTask, at: start)?.isWritten == false, "an ended task stays ended")
            }
        }
    }

    @Test(arguments: Engine.available)
    func testrunsListNewestFirstByFilter(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            let (a, b, c) = try await store.transaction { (tx: StoreTransaction) async throws in
                let a = try await testrun(tx, group: "g1", requestor: "ann", at: start).0
                let b = try await testrun(tx, group: "g2", requestor: "bob", at: start.addingTimeInterval(1)).0
                let c = try await testrun(tx, group: "g1", requestor: "bob", at: start.addingTimeInterval(2)).0
                let record = try #require(try await tx.testrun(id: c))
                #expect(try await tx.perform(.taskStarted, on: record, at: start.addingTimeInterval(3)).isWritten)
                return (a, b, c)
            }
            try await store.transaction { (tx: StoreTransaction) async throws in
                #expect(try await tx.testruns(TestrunFilter()).map(\.id) == [c, b, a])
                #expect(try await tx.testruns(TestrunFilter(deviceGroup: "g1")).map(\.id) == [c, a])
                #expect(try await tx.testruns(TestrunFilter(requestor: "bob")).map(\.id) == [c, b])
                #expect(try await tx.testruns(TestrunFilter(state: .running)).map(\.id) == [c])
                #expect(try await tx.testruns(TestrunFilter(limit: 1)).map(\.id) == [c])
            }
        }
    }
}

/// Who held which attempt of a task: a worker's events about an attempt
/// count only from the worker that held it.
@Suite struct TaskAttemptContractTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    @Test(arguments: Engine.available)
    func eachClaimIsAnAttemptOfItsOwnerAndAnUnclaimLeavesNoTrace(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            let taskID = try await store.transaction { (tx: StoreTransaction) async throws in
                try await FarmContractTests().testrun(tx, at: start).1
            }
            try await store.transaction { (tx: StoreTransaction) async throws in
                let first = try #require(try await tx.claim(owner: "w1", routingKeys: ["g"], lease: .seconds(10), at: start))
                #expect(first.attempts == 1)
                _ = try await tx.perform(.leaseExpired, onTask: taskID, at: start)
                let second = try #require(try await tx.claim(taskID: taskID, owner: "w2", lease: .seconds(10), at: start))
                #expect(second.attempts == 2)
            }
            try await store.transaction { (tx: StoreTransaction) async throws in
                #expect(try await tx.heldAttempts(taskID: taskID, owner: "w1") == [1])
                #expect(try await tx.heldAttempts(taskID: taskID, owner: "w2") == [2])
                #expect(try await tx.heldAttempts(taskID: taskID, owner: "w3") == [])
                #expect(try await tx.unclaim(taskID: taskID, owner: "w1", attempt: 2) == false, "not w1's claim")
                #expect(try await tx.unclaim(taskID: taskID, owner: "w2", attempt: 1) == false, "not this attempt")
                #expect(try await tx.unclaim(taskID: taskID, owner: "w2", attempt: 2))
                #expect(try await tx.heldAttempts(taskID: taskID, owner: "w2") == [])
                let task = try #require(try await tx.task(id: taskID))
                #expect(task.state == .queued)
                #expect(task.attempts == 1)
                #expect(task.owner == nil)
                let again = try #require(try await tx.claim(owner: "w3", routingKeys: ["g"], lease: .seconds(10), at: start))
                #expect(again.attempts == 2, "the undone attempt's number is used again")
                #expect(try await tx.heldAttempts(taskID: taskID, owner: "w3") == [2])
            }
        }
    }

    @Test(arguments: Engine.available)
    func aTaskCostFromAbsurdStoredDurationsDoesNotTrap(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            try await store.transaction { (tx: StoreTransaction) async throws in
                let records = ["device.flash.finished", "device.boot.finished"].enumerated().map { index, type in
                    EventRecord(
                        id: UUID().uuidString, type: type, emittedAt: start, receivedAt: start, payload: "{}", sequence: Int64(index + 1),
                        durationMs: .max, tryNumber: 1, deviceGroup: "g")
                }
                _ = try await tx.storeNewEvents(records)
            }
            let cost = try await store.transaction { try await $0.taskCost(deviceGroup: "g", since: start.addingTimeInterval(-60)) }
            #expect(cost == .milliseconds(Int64.max))
        }
    }
}
