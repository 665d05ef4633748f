import Foundation
import OTSCore
import OTSTestSupport
import Testing

@testable import OTSStore

/// Workers, results, the event store and history: the same on every engine.
@Suite struct RecordsContractTests {
    @Test(arguments: Engine.available)
    func workersRegisterAgainAndHeartbeat(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            let start = Date(timeIntervalSince1970: 1_800_000_000)
            try await store.transaction { tx in
                try await tx.upsertWorker(
                    WorkerRecord(
                        host: "rack1", instanceName: "n9-a", version: "0.1.0", deviceGroup: "phones", deviceName: "n9", state: "online",
                        lastHeartbeat: start, registeredAt: start))
                try await tx.upsertWorker(
                    WorkerRecord(
                        host: "rack1", instanceName: "n9-b", version: "0.1.0", deviceGroup: "phones", state: "online", lastHeartbeat: start,
                        registeredAt: start))
                // Registering again updates, it does not add.
                try await tx.upsertWorker(
                    WorkerRecord(
                        host: "rack1", instanceName: "n9-a", version: "0.2.0", deviceGroup: "phones", deviceName: "n9", deviceID: "0042",
                        state: "online", lastHeartbeat: start, registeredAt: start))
            }
            let beat = try await store.transaction {
                try await $0.heartbeat(workerID: "rack1/n9-a", state: "busy", at: start.addingTimeInterval(10))
            }
            #expect(beat)
            let unknown = try await store.transaction { try await $0.heartbeat(workerID: "rack9/ghost", state: "busy") }
            #expect(!unknown)
            let workers = try await store.transaction { try await $0.workers() }
            #expect(workers.map(\.id) == ["rack1/n9-a", "rack1/n9-b"])
            #expect(workers[0].version == "0.2.0")
            #expect(workers[0].deviceID == "0042")
            #expect(workers[0].state == "busy")
            #expect(workers[0].lastHeartbeat == start.addingTimeInterval(10))
        }
    }

    @Test(arguments: Engine.available)
    func resultsAreKeptPerTaskAndPackageAndAResendReplaces(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            try await store.transaction { tx in
                try await tx.insertTestrun(id: "r1", request: "{}", deviceGroup: "phones", state: .running)
                try await tx.enqueue([
                    NewTask(id: "t1", testrunID: "r1", sequence: 0, routingKey: "phones", work: "{}"),
                    NewTask(id: "t2", testrunID: "r1", sequence: 1, routingKey: "phones", work: "{}"),
                ])
                try await tx.saveResults(ResultRecord(taskID: "t2", package: "b", resultsXML: "<b/>"))
                try await tx.saveResults(ResultRecord(taskID: "t1", package: "a", resultsXML: "<old/>"))
                try await tx.saveResults(ResultRecord(taskID: "t1", package: "a", resultsXML: "<a/>", files: #"["log.txt"]"#))
            }
            let results = try await store.transaction { try await $0.results(testrunID: "r1") }
            #expect(results.map(\.package) == ["a", "b"])
            #expect(results[0].resultsXML == "<a/>")
            #expect(results[0].files == #"["log.txt"]"#)
        }
    }

    @Test(arguments: Engine.available)
    func eventsAreStoredOnceAndFoundByTheirFields(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            let t0 = Date(timeIntervalSince1970: 1_800_000_000)
            let events = [
                EventRecord(
                    id: "e1", type: "task.claimed", emittedAt: t0, receivedAt: t0, testrunID: "r1", taskID: "t1", worker: "rack1/n9-a",
                    payload: "{}"),
                EventRecord(
                    id: "e2", type: "failure", emittedAt: t0, receivedAt: t0.addingTimeInterval(1), testrunID: "r1", worker: "rack1/n9-a",
                    signature: "flash failed after <n> tries", payload: "{}"),
                EventRecord(
                    id: "e3", type: "task.claimed", emittedAt: t0, receivedAt: t0.addingTimeInterval(2), testrunID: "r2",
                    worker: "rack1/n9-b", payload: "{}"),
            ]
            let first = try await store.transaction { try await $0.storeEvents(events) }
            let again = try await store.transaction { try await $0.storeEvents(events) }
            #expect(first == 3)
            #expect(again == 0)
            let byTestrun = try await store.transaction { try await $0.events(testrunID: "r1") }
            #expect(byTestrun.map(\.id) == ["e1", "e2"])
            let byType = try await store.transaction { try await $0.events(type: "task.claimed") }
            #expect(byType.map(\.id) == ["e1", "e3"])
            let byWorker = try await store.transaction { try await $0.events(worker: "rack1/n9-b") }
            #expect(byWorker.map(\.id) == ["e3"])
            let recent = try await store.transaction { try await $0.events(since: t0.addingTimeInterval(1)) }
            #expect(recent.map(\.id) == ["e2", "e3"])
            #expect(byTestrun[1].signature == "flash failed after <n> tries")
        }
    }

    @Test(arguments: Engine.available)
    func historyKeepsTheNewestRunsPerPackageAndSet(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            let t0 = Date(timeIntervalSince1970: 1_800_000_000)
            try await store.transaction { tx in
                try await tx.recordHistory(
                    (0..<7).map {
                        HistoryRecord(
                            package: "a", setName: "s1", deviceGroup: "phones", duration: .seconds(60 + $0), verdict: "PASS",
                            testrunID: "r\($0)", finishedAt: t0.addingTimeInterval(Double($0)))
                    } + [
                        HistoryRecord(
                            package: "a", setName: nil, deviceGroup: "phones", duration: .seconds(300), verdict: "PASS", testrunID: "r9",
                            finishedAt: t0),
                        HistoryRecord(
                            package: "b", setName: "s1", deviceGroup: "tablets", duration: .seconds(5), verdict: "FAIL", testrunID: "r9",
                            finishedAt: t0),
                    ]
                )
            }
            let history = try await store.transaction { try await $0.history(deviceGroup: "phones", packages: ["a", "b"], limitPerKey: 5) }
            let sets = history.filter { $0.setName == "s1" }
            #expect(sets.map(\.duration) == [66, 65, 64, 63, 62].map { Duration.seconds($0) })
            #expect(history.filter { $0.setName == nil }.map(\.duration) == [.seconds(300)])
            #expect(!history.contains { $0.package == "b" })
        }
    }

    @Test(arguments: Engine.available)
    func historyRunsMarkRunsThatDoNotCount(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            let t0 = Date(timeIntervalSince1970: 1_800_000_000)
            try await store.transaction { tx in
                for id in ["ok", "cancelled-task", "infra", "test-failure", "cancelled-run"] {
                    try await tx.insertTestrun(
                        id: id, request: "{}", deviceGroup: "phones", requestor: nil, priority: 0, deadline: nil, at: t0)
                    try await tx.enqueue([NewTask(id: "t-\(id)", testrunID: id, sequence: 0, routingKey: id, work: "{}")], at: t0)
                }
                _ = try await tx.cancelTasks(testrunID: "cancelled-task", at: t0)
                for (id, category) in [("infra", "infrastructure"), ("test-failure", "test")] {
                    _ = try await tx.claim(owner: "w", routingKeys: [id], lease: .seconds(60), at: t0)
                    _ = try await tx.finish(
                        taskID: "t-\(id)", owner: "w", state: .failed, errorCategory: category, errorMessage: "x", at: t0)
                }
                _ = try await tx.perform(.cancel, on: try #require(try await tx.testrun(id: "cancelled-run")), at: t0)
                // Newest first: the error, then one of each testrun.
                var records = [
                    HistoryRecord(
                        package: "a", setName: "s", deviceGroup: "phones", duration: .seconds(1), verdict: "ERROR", testrunID: "ok",
                        taskID: "t-ok", finishedAt: t0.addingTimeInterval(10))
                ]
                for (offset, id) in ["ok", "cancelled-task", "infra", "test-failure", "cancelled-run"].enumerated() {
                    records.append(
                        HistoryRecord(
                            package: "a", setName: "s", deviceGroup: "phones", duration: .seconds(Int64(offset + 2)), verdict: "PASS",
                            testrunID: id, taskID: "t-\(id)", finishedAt: t0.addingTimeInterval(Double(9 - offset))))
                }
                // Recorded before tasks were: counts.
                records.append(
                    HistoryRecord(
                        package: "a", setName: nil, deviceGroup: "phones", duration: .seconds(30), verdict: "FAIL", testrunID: "gone",
                        finishedAt: t0, keepWhole: true))
                try await tx.recordHistory(records)
            }
            let runs = try await store.transaction { try await $0.historyRuns(deviceGroup: "phones", packages: ["a"]) }
            #expect(runs.map(\.record.duration) == [1, 2, 3, 4, 5, 6, 30].map { Duration.seconds($0) })
            #expect(
                runs.map(\.record.keepWhole) == [false, false, false, false, false, false, true], "a package's run says it was kept whole")
            #expect(runs.map(\.counts) == [false, true, false, false, true, false, true])
            #expect(runs[1].record.taskID == "t-ok")
            // At most five that count per set, and five that do not.
            let limited = try await store.transaction { try await $0.historyRuns(deviceGroup: "phones", packages: ["a"], limitPerKey: 1) }
            #expect(limited.map(\.record.duration) == [1, 2, 30].map { Duration.seconds($0) })
        }
    }

    @Test(arguments: Engine.available)
    func theTaskCostIsTheMedianFlashPlusTheMedianBoot(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            let t0 = Date(timeIntervalSince1970: 1_800_000_000)
            func event(_ type: String, _ ms: Int64, group: String = "phones", at offset: Double = 0) -> EventRecord {
                EventRecord(
                    id: UUID().uuidString, type: type, emittedAt: t0, receivedAt: t0.addingTimeInterval(offset), payload: "{}",
                    durationMs: ms,
                    deviceGroup: group)
            }
            let none = try await store.transaction { try await $0.taskCost(deviceGroup: "phones", since: t0) }
            #expect(none == nil)
            try await store.transaction { tx in
                try await tx.storeEvents([
                    event("device.flash.finished", 10_000), event("device.flash.finished", 20_000), event("device.flash.finished", 90_000),
                    event("device.boot.finished", 4_000), event("device.boot.finished", 6_000),
                    // Another group, and too old.
                    event("device.flash.finished", 500_000, group: "tablets"), event("device.boot.finished", 500_000, at: -10),
                ])
            }
            // Flash 20 s (the median of 10, 20, 90), boot 4 s (of 4 and 6:
            // the nearest rank, the one median of the project, as the
            // dashboard's boot time).
            let cost = try await store.transaction { try await $0.taskCost(deviceGroup: "phones", since: t0) }
            #expect(cost == .seconds(24))
        }
    }
}
