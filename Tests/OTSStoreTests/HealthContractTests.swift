import Foundation
import OTSCore
import OTSTestSupport
import Testing

@testable import OTSStore

/// An instance's health: kept whole (every field read back as written),
/// changed only by `perform` as a compare-and-set on its version, and, on
/// the monitor's side, read from the events it stored.
@Suite struct HealthContractTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    var rules: HealthRules {
        var rules = HealthRules()
        rules.badAfter = 2
        rules.hasHealthCheck = true
        rules.backoff = 30
        return rules
    }

    @Test(arguments: Engine.available)
    func healthIsWrittenWholeAndOnlyOverTheVersionItWasDecidedFrom(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            let new = try await store.transaction { try await $0.insertHealth(workerID: "h/w1", at: start) }
            #expect(new)
            #expect(try await store.transaction { try await $0.insertHealth(workerID: "h/w1", at: start) } == false, "registered before")
            let fresh = try #require(try await store.read { try await $0.health(workerID: "h/w1") })
            #expect(fresh.state == DeviceHealth.State(health: .unknown, since: start))
            #expect(fresh.version == 0)

            let later = start.addingTimeInterval(10)
            let (first, second, check) = try await store.transaction { (tx: StoreTransaction) async throws in
                let first = try await tx.perform(.taskEnded(task: "t1", category: .device), on: fresh, rules: rules, at: later)
                let second = try await tx.perform(.taskEnded(task: "t2", category: .device), on: first.record, rules: rules, at: later)
                let check = try await tx.perform(.wantsWork(checkID: "c1"), on: second.record, rules: rules, at: later)
                return (first, second, check)
            }
            #expect(first.isWritten && second.isWritten && check.isWritten)
            #expect(second.action.change?.to == .bad)
            #expect(check.action.startCheck == "c1")
            let failed = try await store.transaction {
                try await $0.perform(.checkEnded(testrun: "c1", verdict: .fail), on: check.record, rules: rules, at: later)
            }
            #expect(failed.record.version == 4)
            let read = try #require(try await store.read { try await $0.health(workerID: "h/w1") })
            #expect(read == failed.record, "every field reads back as written")
            #expect(read.state.health == .bad)
            #expect(read.state.evidence == ["t1", "t2"])
            #expect(read.state.recent == [.init(task: "t1", device: true), .init(task: "t2", device: true)])
            #expect(read.state.failedChecks == 1)
            #expect(read.state.nextCheckAt == later.addingTimeInterval(30))
            #expect(read.state.check == nil)
            #expect(read.state.lastCheck == DeviceHealth.CheckResult(testrun: "c1", verdict: .fail, at: later))

            // A decision on what another request has changed since loses.
            let stale = try await store.transaction {
                try await $0.perform(.maintenance(reason: "cable"), on: check.record, rules: rules, at: later)
            }
            #expect(stale.lost)
            #expect(!stale.isWritten)
            #expect(try await store.read { try await $0.health(workerID: "h/w1") } == read)
            // Nothing to write is not a loss.
            let ignored = try await store.transaction {
                try await $0.perform(.checkEnded(testrun: "other", verdict: .pass), on: read, rules: rules, at: later)
            }
            #expect(!ignored.lost && !ignored.isWritten)
            #expect(try await store.read { try await $0.healthRecords().map(\.workerID) } == ["h/w1"])
        }
    }

    @Test(arguments: Engine.available)
    func aTestrunIsMarkedAsAHealthCheck(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            let (testrunID, _) = try await store.transaction { (tx: StoreTransaction) async throws in
                let ids = try await FarmContractTests().testrun(tx, at: start)
                try await tx.markHealthCheck(testrunID: ids.0, workerID: "h/w1")
                return ids
            }
            #expect(try await store.read { try await $0.testrun(id: testrunID)?.healthCheck } == "h/w1")
        }
    }

    /// The monitor's side: health from the events it stored.
    @Test(arguments: Engine.available)
    func theMonitorKnowsHealthFromItsEvents(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            let sender = MonitorEvent.Sender(host: "h", instance: "w1", pid: 1, version: "1")
            func record(_ event: MonitorEvent, _ sequence: Int64, at seconds: Double, category: String? = nil) throws -> EventRecord {
                var event = event
                event.receivedAt = start.addingTimeInterval(seconds)
                return EventRecord(
                    id: event.id, type: event.type.rawValue, emittedAt: event.emittedAt, receivedAt: start.addingTimeInterval(seconds),
                    testrunID: event.testrunID, taskID: event.taskID, worker: event.sender.workerID, payload: try JSONCoding.string(event),
                    sequence: sequence, category: category)
            }
            let registered = MonitorEvent.healthChanged(
                from: nil, to: .unknown, reason: "registered", evidence: [], deviceGroup: "g", sender: sender)
            let good = MonitorEvent.healthChanged(
                from: .unknown, to: .good, reason: "passed", evidence: [], deviceGroup: "g", sender: sender)
            let bad = MonitorEvent.healthChanged(from: .good, to: .bad, reason: "failed", evidence: ["t"], deviceGroup: "g", sender: sender)
            var checkEnd = MonitorEvent(type: .testrunFinished, sender: .init(host: "h", instance: "server"), testrunID: UUID().uuidString)
            checkEnd.verdict = "PASS"
            checkEnd.details = [MonitorEvent.healthCheckDetail: "h/w1"]
            var task = MonitorEvent(type: .taskStarted, sender: sender, testrunID: UUID().uuidString)
            task.attempt = 1
            var failure = MonitorEvent(type: .failure, sender: sender, testrunID: task.testrunID)
            failure.error = .init(category: .device, message: "flash failed")
            var checkTask = MonitorEvent(type: .taskStarted, sender: sender, testrunID: checkEnd.testrunID)
            checkTask.attempt = 1
            _ = try await store.transaction { (tx: StoreTransaction) async throws in
                try await tx.storeEvents([
                    try record(registered, 1, at: 0), try record(MonitorEvent(type: .workerOnline, sender: sender), 2, at: 0),
                    try record(checkTask, 3, at: 5), try record(checkEnd, 4, at: 10), try record(good, 5, at: 10),
                    try record(task, 6, at: 20), try record(failure, 7, at: 30, category: "device"), try record(bad, 8, at: 60),
                ])
            }
            let latest = try await store.read { try await $0.latestHealthEvents() }
            #expect(latest["h/w1"]?.healthChange?.to == .bad)
            let statistics = try await store.read {
                try await $0.healthStatistics(since: start, until: start.addingTimeInterval(100), workers: nil)
            }
            let figures = try #require(statistics.instances.first)
            #expect(figures.worker == "h/w1")
            #expect(figures.health == .bad)
            #expect(figures.observedSeconds == 100)
            #expect(figures.availability == 0.5, "good and online from 10 s to 60 s")
            #expect(figures.badSeconds == 40)
            #expect(figures.tasks == 1, "the health check's task left out")
            #expect(figures.deviceFailures == 1)
            #expect(figures.healthChecks == 1)
            #expect(figures.healthChecksPassed == 1)
            #expect(statistics.groups.map(\.deviceGroup) == ["g"])
            let other = try await store.read {
                try await $0.healthStatistics(since: start, until: start.addingTimeInterval(100), deviceGroup: "other", workers: nil)
            }
            #expect(other.instances.isEmpty)
        }
    }
}
