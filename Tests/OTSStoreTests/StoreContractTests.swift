import Foundation
import OTSCore
import OTSTestSupport
import SQLKit
import Testing

@testable import OTSStore

/// The storage contract: written once, run on every engine.
@Suite struct StoreContractTests {
    func testrun(_ store: Store, tasks: Int, routingKey: String = "phones", priority: Int = 0) async throws -> String {
        let id = UUID().uuidString.lowercased()
        try await store.transaction { tx in
            try await tx.insertTestrun(id: id, request: "{}", deviceGroup: "phones", state: .queued, priority: priority)
            try await tx.enqueue(
                (0..<tasks).map { NewTask(testrunID: id, sequence: $0, routingKey: routingKey, work: #"{"n":\#($0)}"#, priority: priority) }
            )
        }
        return id
    }

    @Test(arguments: Engine.available)
    func migrationsApplyToAnEmptyDatabaseAndRerunningChangesNothing(engine: Engine) async throws {
        try await withStore(engine) { store, url in
            #expect(try await Migrations.currentVersion(store.database) == Migrations.latestVersion)
            #expect(try await Migrations.migrate(store.database) == [])
            let again = try await Store.open(url, logger: testLogger)
            #expect(try await Migrations.currentVersion(again.database) == Migrations.latestVersion)
            await again.close()
        }
    }

    @Test(arguments: Engine.available)
    func aSchemaNewerThanThisBuildIsRefused(engine: Engine) async throws {
        try await withStore(engine) { store, url in
            try await store.transaction { tx in
                try await tx.db.raw("INSERT INTO ots_schema_versions (version, name, applied_at) VALUES (999, 'from the future', 0)").run()
            }
            let error = await #expect(throws: StoreError.self) { try await Store.open(url, logger: testLogger) }
            #expect(error?.code == .schemaTooNew)
            #expect(error?.message.contains("schema version 999, newer than this OTS knows") == true)
        }
    }

    @Test(arguments: Engine.available)
    func enqueuedTasksAreClaimedMostSpecificKeyFirstThenPriorityThenAge(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            let general = try await testrun(store, tasks: 1, routingKey: "phones")
            let urgent = try await testrun(store, tasks: 1, routingKey: "phones", priority: 5)
            let specific = try await testrun(store, tasks: 1, routingKey: "phones.n9")
            let keys = ["phones.n9.0042", "phones.n9", "phones"]
            var order: [String] = []
            while let task = try await store.transaction({ try await $0.claim(owner: "w1", routingKeys: keys, lease: .seconds(60)) }) {
                order.append(task.testrunID)
                #expect(task.state == .claimed)
                #expect(task.owner == "w1")
                #expect(task.attempts == 1)
            }
            #expect(order == [specific, urgent, general])
            // Another device group's keys see nothing.
            _ = try await testrun(store, tasks: 1, routingKey: "tablets")
            let other = try await store.transaction { try await $0.claim(owner: "w1", routingKeys: keys, lease: .seconds(60)) }
            #expect(other == nil)
            let waiting = try await store.transaction { try await $0.queuedCount(routingKeys: ["tablets"]) }
            #expect(waiting == 1)
        }
    }

    @Test(arguments: Engine.available)
    func enqueueIsPartOfItsTransaction(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            struct Abort: Error {}
            await #expect(throws: Abort.self) {
                try await store.transaction { tx in
                    try await tx.insertTestrun(id: "t1", request: "{}", deviceGroup: "phones", state: .queued)
                    try await tx.enqueue([NewTask(testrunID: "t1", sequence: 0, routingKey: "phones", work: "{}")])
                    try await tx.append([(id: "e1", payload: "{}")])
                    throw Abort()
                }
            }
            let testrun = try await store.transaction { try await $0.testrun(id: "t1") }
            #expect(testrun == nil)
            let claimed = try await store.transaction { try await $0.claim(owner: "w", routingKeys: ["phones"], lease: .seconds(5)) }
            #expect(claimed == nil)
            #expect(try await store.backlog(consumer: "monitor").count == 0)
        }
    }

    @Test(arguments: Engine.available)
    func manyConcurrentClaimersClaimEveryTaskExactlyOnce(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            let taskCount = 200
            for _ in 0..<4 { _ = try await testrun(store, tasks: taskCount / 4) }
            let claimed = try await withThrowingTaskGroup(of: [String].self) { group in
                for worker in 0..<8 {
                    group.addTask {
                        var mine: [String] = []
                        while let task = try await store.transaction({
                            try await $0.claim(owner: "worker-\(worker)", routingKeys: ["phones"], lease: .seconds(60))
                        }) {
                            mine.append(task.id)
                            _ = try await store.transaction {
                                try await $0.finish(taskID: task.id, owner: "worker-\(worker)", state: .finished, verdict: "PASS")
                            }
                        }
                        return mine
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(claimed.count == taskCount)
            #expect(Set(claimed).count == taskCount)
        }
    }

    @Test(arguments: Engine.available)
    func anOwnerRenewsItsLeaseAndOthersCannotFinishItsTask(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            _ = try await testrun(store, tasks: 1)
            let now = Date()
            let task = try #require(
                try await store.transaction { try await $0.claim(owner: "w1", routingKeys: ["phones"], lease: .seconds(10), at: now) })
            let ownerRenews = try await store.transaction {
                try await $0.renewLease(taskID: task.id, owner: "w1", lease: .seconds(30), at: now)
            }
            #expect(ownerRenews)
            let otherRenews = try await store.transaction {
                try await $0.renewLease(taskID: task.id, owner: "w2", lease: .seconds(30), at: now)
            }
            #expect(!otherRenews)
            let renewed = try #require(try await store.transaction { try await $0.task(id: task.id) })
            #expect(renewed.leaseExpiresAt.map { abs($0.timeIntervalSince(now) - 30) < 0.01 } == true)
            let error = await #expect(throws: StoreError.self) {
                try await store.transaction { try await $0.finish(taskID: task.id, owner: "w2", state: .finished, verdict: "PASS") }
            }
            #expect(error?.code == .conflict)
            let done = try await store.transaction {
                try await $0.finish(taskID: task.id, owner: "w1", state: .failed, errorCategory: "device", errorMessage: "flash failed")
            }
            #expect(done.state == .failed)
            #expect(done.errorCategory == "device")
            let renewsEnded = try await store.transaction { try await $0.renewLease(taskID: task.id, owner: "w1", lease: .seconds(30)) }
            #expect(!renewsEnded)
        }
    }

    @Test(arguments: Engine.available)
    func expiredLeasesAreRequeuedThenFailed(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            _ = try await testrun(store, tasks: 1)
            let start = Date()
            let first = try #require(
                try await store.transaction { try await $0.claim(owner: "dies", routingKeys: ["phones"], lease: .seconds(30), at: start) })
            // Before the lease runs out nothing happens.
            #expect(try await store.sweepExpiredLeases(maxAttempts: 2, at: start.addingTimeInterval(29)).isEmpty)
            // After it, the task goes back to the queue once...
            let swept = try await store.sweepExpiredLeases(maxAttempts: 2, at: start.addingTimeInterval(31))
            #expect(swept.map(\.1) == [.requeued])
            #expect(swept.first?.0.state == .queued)
            let second = try #require(
                try await store.transaction {
                    try await $0.claim(owner: "also-dies", routingKeys: ["phones"], lease: .seconds(30), at: start.addingTimeInterval(32))
                })
            #expect(second.id == first.id)
            #expect(second.attempts == 2)
            // ...and fails when its attempts are used up.
            let final = try await store.sweepExpiredLeases(maxAttempts: 2, at: start.addingTimeInterval(63))
            #expect(final.map(\.1) == [.failed])
            #expect(final.first?.0.errorCategory == "infrastructure")
            // The worker that lost it can no longer renew or finish it.
            let renewsLost = try await store.transaction {
                try await $0.renewLease(taskID: first.id, owner: "also-dies", lease: .seconds(30))
            }
            #expect(!renewsLost)
        }
    }

    @Test(arguments: Engine.available)
    func cancellingATestrunCancelsItsOpenTasks(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            let id = try await testrun(store, tasks: 3)
            let claimed = try #require(
                try await store.transaction { try await $0.claim(owner: "w", routingKeys: ["phones"], lease: .seconds(30)) })
            _ = try await store.transaction { try await $0.finish(taskID: claimed.id, owner: "w", state: .finished, verdict: "PASS") }
            let cancelled = try await store.transaction { try await $0.cancelTasks(testrunID: id) }
            #expect(cancelled.count == 2)
            let states = try await store.transaction { try await $0.tasks(testrunID: id) }.map(\.state)
            #expect(states.sorted { $0.rawValue < $1.rawValue } == [.cancelled, .cancelled, .finished])
            let change = try await store.transaction { tx in
                try await tx.perform(.cancel, on: try #require(try await tx.testrun(id: id)))
            }
            #expect(change.isWritten)
            #expect(change.action.cancelTasks, "its tasks were cancelled above; the testrun says to")
            let record = try await store.transaction { try await $0.testrun(id: id) }
            #expect(record?.state == .cancelled)
        }
    }
}
