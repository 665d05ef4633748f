import Distribution
import Foundation
import Logging
import OTSCore
import OTSHTTP
import OTSMonitor
import OTSStore
import Testing

@testable import OTSServer

/// The farm applying device health over a real store, with the clock
/// given: who may claim what, health checks for one instance only, the
/// operators' commands, and the warnings of a submit.
@Suite struct FarmHealthTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    /// A farm whose group g has a health check (package `hc`) when `check`.
    func withFarm(check: Bool = true, _ configure: (inout ServerConfiguration) -> Void = { _ in }, _ body: (Farm) async throws -> Void)
        async throws
    {
        try await FarmLogicTests.withFarm(
            { configuration in
                configuration.health.rules.badAfter = 2
                configuration.health.rules.maxHealthChecks = 2
                configuration.health.rules.backoff = 30
                configuration.health.rules.backoffMax = 60
                if check {
                    var healthCheck = HealthConfiguration.HealthCheck()
                    healthCheck.packages = ["hc"]
                    healthCheck.timeout = 600
                    configuration.health.checks["g"] = healthCheck
                }
                configure(&configuration)
            }, body)
    }

    func claim(_ farm: Farm, _ worker: String, at seconds: Double = 0) async throws -> TaskAssignment? {
        try await farm.claim(workerID: worker, wait: .zero) { start.addingTimeInterval(seconds) }
    }

    /// Ends a task: PASS with results for each of its packages, or with an error.
    func finish(_ farm: Farm, _ task: TaskAssignment, _ worker: String, error: ErrorCategory? = nil, at seconds: Double = 0) async throws {
        let now = start.addingTimeInterval(seconds)
        guard let error else {
            for package in task.work.packages {
                let xml = """
                    <?xml version="1.0" encoding="UTF-8"?>
                    <testresults version="1.0" environment="hardware" hwproduct="p" hwbuild="b"><suite name="s"><set name="t"><case name="c" result="PASS"/></set></suite></testresults>
                    """
                #expect(
                    try await farm.saveResults(taskID: task.taskID, workerID: worker, package: package.name, xml: Data(xml.utf8), at: now))
            }
            try await farm.finish(taskID: task.taskID, TaskFinish(workerID: worker, verdict: .pass), at: now)
            return
        }
        try await farm.finish(
            taskID: task.taskID, TaskFinish(workerID: worker, error: .init(category: error, message: "flash failed after 3 tries")), at: now
        )
    }

    func health(_ farm: Farm, _ worker: String) async throws -> DeviceHealthView {
        try #require(try await farm.devices().devices.first { $0.workerID == worker })
    }

    /// Every event on the monitor queue so far.
    func queued(_ farm: Farm) async throws -> [MonitorEvent] {
        var events: [MonitorEvent] = []
        while try await farm.store.consume(
            consumer: "test", limit: 1000,
            { _, messages in
                events += try messages.map { try JSONCoding.decoder().decode(MonitorEvent.self, from: Data($0.payload.utf8)) }
            }) > 0
        {}
        return events
    }

    @Test func aNewInstanceRunsItsHealthCheckFirstAndOnlyItTakesIt() async throws {
        try await withFarm { farm in
            let w1 = try await FarmLogicTests.register(farm, "w1", at: start)
            let w2 = try await FarmLogicTests.register(farm, "w2", at: start)
            #expect(try await health(farm, w1).health == .unknown)
            let work = try await FarmLogicTests.submit(farm, packages: ["a"], at: start)

            let check = try #require(try await claim(farm, w1))
            #expect(check.testrunID != work.id, "its health check comes before any work")
            #expect(check.work.packages.map(\.name) == ["hc"])
            let testrun = try await farm.testrun(id: check.testrunID)
            #expect(testrun.healthCheck == w1)
            #expect(testrun.request.device == DeviceProperties(devicegroup: "g"))
            #expect(try await health(farm, w1).healthCheck == check.testrunID)
            #expect(try await claim(farm, w1) == nil, "nothing but its health check while it is unknown")

            let other = try #require(try await claim(farm, w2))
            #expect(other.testrunID != check.testrunID, "a health check is for its own instance only")
            #expect(try await farm.testrun(id: other.testrunID).healthCheck == w2)

            try await finish(farm, check, w1)
            #expect(try await farm.testrun(id: check.testrunID).verdict == .pass)
            let good = try await health(farm, w1)
            #expect(good.health == .good)
            #expect(good.lastCheck?.testrunID == check.testrunID)
            #expect(good.lastCheck?.verdict == .pass)
            #expect(try await claim(farm, w1)?.testrunID == work.id, "good, it takes work")

            let events = try await queued(farm)
            let changes = events.filter { $0.type == .deviceHealthChanged && $0.sender.workerID == w1 }
            #expect(changes.map { $0.details?["to"] } == ["unknown", "good"])
            #expect(changes.last?.details?["evidence"] == check.testrunID)
            #expect(changes.last?.details?["devicegroup"] == "g")
            // The health check's testrun and task events say what they are.
            let checkEvents = events.filter { $0.testrunID == check.testrunID }
            #expect(checkEvents.contains { $0.type == .testrunFinished })
            #expect(checkEvents.filter { $0.sender.instance == "server" }.allSatisfy { $0.healthCheckOf == w1 })
            #expect(events.filter { $0.testrunID == work.id }.allSatisfy { $0.healthCheckOf == nil })
        }
    }

    @Test func deviceFailuresMakeAnInstanceBadAndItsPeersTakeItsWork() async throws {
        try await withFarm(check: false) { farm in
            let w1 = try await FarmLogicTests.register(farm, "w1", at: start)
            var failed: [String] = []
            for _ in 0..<2 {
                _ = try await FarmLogicTests.submit(farm, packages: ["a"], at: start)
                let task = try #require(try await claim(farm, w1))
                try await finish(farm, task, w1, error: .device)
                failed.append(task.taskID)
            }
            let bad = try await health(farm, w1)
            #expect(bad.health == .bad)
            #expect(bad.evidence == failed)
            #expect(bad.reason.contains("2 tasks in a row failed with device errors"))

            let waiting = try await FarmLogicTests.submit(farm, packages: ["a"], at: start)
            #expect(try await claim(farm, w1) == nil, "a bad instance takes no work")
            let w2 = try await FarmLogicTests.register(farm, "w2", at: start)
            #expect(try await claim(farm, w2)?.testrunID == waiting.id, "its peer takes it")
            let change = try #require(try await queued(farm).last { $0.type == .deviceHealthChanged && $0.details?["to"] == "bad" })
            #expect(change.sender.workerID == w1)
            #expect(change.details?["from"] == "good")
            #expect(change.details?["evidence"] == failed.joined(separator: " "))
        }
    }

    @Test func failedChecksBackOffThenMaintenanceUntilAnOperatorBringsItBack() async throws {
        try await withFarm { farm in
            let w1 = try await FarmLogicTests.register(farm, "w1", at: start)
            let work = try await FarmLogicTests.submit(farm, packages: ["a"], at: start)
            let first = try #require(try await claim(farm, w1))
            try await finish(farm, first, w1, error: .device, at: 1)
            let bad = try await health(farm, w1)
            #expect(bad.health == .bad)
            #expect(bad.failedChecks == 1)
            #expect(bad.nextCheckAt == start.addingTimeInterval(31))
            #expect(try await claim(farm, w1, at: 30) == nil, "backing off")
            let second = try #require(try await claim(farm, w1, at: 31))
            #expect(try await farm.testrun(id: second.testrunID).healthCheck == w1)
            try await finish(farm, second, w1, error: .device, at: 32)
            let maintenance = try await health(farm, w1)
            #expect(maintenance.health == .maintenance)
            #expect(maintenance.evidence == [second.testrunID])
            #expect(try await claim(farm, w1, at: 1000) == nil, "in maintenance it waits for a person")

            await #expect(throws: DomainError.self) {
                try await farm.command(.maintenance, DeviceCommand(reason: "again"), workerID: w1, by: "alice", at: start)
            }
            let online = try await farm.command(.online, DeviceCommand(reason: "cable replaced"), workerID: w1, by: "alice", at: start)
            #expect(online.health == .unknown)
            #expect(online.reason == "brought online by alice: cable replaced")
            let third = try #require(try await claim(farm, w1, at: 1001))
            #expect(try await farm.testrun(id: third.testrunID).healthCheck == w1, "its health check first")
            try await finish(farm, third, w1, at: 1002)
            #expect(try await health(farm, w1).health == .good)
            #expect(try await claim(farm, w1, at: 1003)?.testrunID == work.id)
            let by = try await queued(farm).filter { $0.type == .deviceHealthChanged }.compactMap { $0.details?["by"] }
            #expect(by == ["alice"])
        }
    }

    @Test func operatorsCommandsAreCheckedAndTheHeldTaskFinishes() async throws {
        try await withFarm(check: false) { farm in
            let w1 = try await FarmLogicTests.register(farm, "w1", at: start)
            let testrun = try await FarmLogicTests.submit(farm, packages: ["a"], at: start)
            let task = try #require(try await claim(farm, w1))
            let error = await #expect(throws: DomainError.self) {
                try await farm.command(.maintenance, DeviceCommand(reason: "  "), workerID: w1, by: nil)
            }
            #expect(error?.field == "reason")
            let missing = await #expect(throws: DomainError.self) {
                try await farm.command(.retire, DeviceCommand(), workerID: "h/none", by: nil)
            }
            #expect(missing?.code == .notFound)
            let refused = await #expect(throws: DomainError.self) {
                try await farm.command(.online, DeviceCommand(), workerID: w1, by: nil)
            }
            #expect(refused?.code == .conflict)
            #expect(refused?.message == "device h/w1 is good already: it takes work")

            let view = try await farm.command(.maintenance, DeviceCommand(reason: "new cable"), workerID: w1, by: nil)
            #expect(view.health == .maintenance)
            #expect(view.reason == "put in maintenance by an operator: new cable")
            try await finish(farm, task, w1)
            #expect(try await farm.testrun(id: testrun.id).verdict == .pass, "the task it held finishes as it would have")
            _ = try await FarmLogicTests.submit(farm, packages: ["a"], at: start)
            #expect(try await claim(farm, w1) == nil)
            #expect(try await health(farm, w1).health == .maintenance, "its task's end does not bring it back")
            #expect(try await farm.command(.retire, DeviceCommand(), workerID: w1, by: nil).health == .retired)
        }
    }

    @Test func maintenanceCancelsTheHealthCheckUnderWay() async throws {
        try await withFarm { farm in
            let w1 = try await FarmLogicTests.register(farm, "w1", at: start)
            let w2 = try await FarmLogicTests.register(farm, "w2", at: start)
            // w2 claims its health check; maintenance ends it, and w1 never had it.
            let check = try #require(try await claim(farm, w2))
            #expect(try await claim(farm, w1)?.testrunID != check.testrunID)
            _ = try await farm.command(.maintenance, DeviceCommand(reason: "bench"), workerID: w2, by: nil)
            let cancelled = try await farm.testrun(id: check.testrunID)
            #expect(cancelled.state == .cancelled)
            #expect(try await health(farm, w2).health == .maintenance)
            #expect(try await health(farm, w2).healthCheck == nil)
        }
    }

    @Test func aSubmitWarnsOrIsRefusedWhenNoGoodOrUnknownInstanceServes() async throws {
        try await withFarm(check: false) { farm in
            let nobody = try await FarmLogicTests.submit(farm, packages: ["a"], at: start)
            #expect(nobody.warnings == ["device: no worker instance serves g; the testrun waits for one (or its queue timeout)"])
            let w1 = try await FarmLogicTests.register(farm, "w1", at: start)
            #expect(try await FarmLogicTests.submit(farm, packages: ["a"], at: start).warnings == nil, "an unknown instance serves")
            _ = try await farm.command(.maintenance, DeviceCommand(reason: "x"), workerID: w1, by: nil)
            let waiting = try await FarmLogicTests.submit(farm, packages: ["a"], at: start)
            #expect(waiting.warnings?.first?.contains("h/w1 is maintenance") == true, "\(waiting.warnings ?? [])")
        }
        try await withFarm(check: false, { $0.refuseUnservable = true }) { farm in
            let refused = await #expect(throws: DomainError.self) { try await FarmLogicTests.submit(farm, packages: ["a"], at: start) }
            #expect(refused?.code == .conflict)
            #expect(refused?.field == "device")
            #expect(try await farm.testruns(TestrunFilter()).testruns.isEmpty, "a refused request stores nothing")
            _ = try await FarmLogicTests.register(farm, "w1", at: start)
            #expect(try await FarmLogicTests.submit(farm, packages: ["a"], at: start).warnings == nil)
        }
    }

    @Test func theHistoryModelPlansOnlyForInstancesThatTakeWork() async throws {
        try await withFarm(check: false) { farm in
            for name in ["w1", "w2", "w3"] { _ = try await FarmLogicTests.register(farm, name, at: start) }
            _ = try await farm.command(.maintenance, DeviceCommand(reason: "x"), workerID: "h/w2", by: nil, at: start)
            _ = try await farm.command(.retire, DeviceCommand(), workerID: "h/w3", by: nil, at: start)
            let request = DistributionRequest(packages: [], device: DeviceProperties(devicegroup: "g"))
            let inputs = try await Farm.historyInputs(for: request, store: farm.store, configuration: farm.configuration, at: start)
            #expect(inputs.availableWorkers == 1)
        }
    }

    @Test func healthChecksAreLeftOutOfTheFarmsVerdicts() async throws {
        try await withFarm { farm in
            let w1 = try await FarmLogicTests.register(farm, "w1", at: start)
            let check = try #require(try await claim(farm, w1))
            try await finish(farm, check, w1, error: .device)
            let work = try await FarmLogicTests.submit(farm, packages: ["a"], at: start)
            _ = try await farm.command(.online, DeviceCommand(), workerID: w1, by: nil)
            let again = try #require(try await claim(farm, w1))
            try await finish(farm, again, w1)
            let task = try #require(try await claim(farm, w1))
            #expect(task.testrunID == work.id)
            try await finish(farm, task, w1)
            // The monitor counts what the events say.
            let ingest = Ingest(store: farm.store, configuration: MonitorConfiguration(), logger: farm.logger)
            while try await ingest.next() > 0 {}
            let statistics = try await farm.store.read {
                try await $0.statistics(since: start.addingTimeInterval(-60), until: start.addingTimeInterval(60))
            }
            #expect(statistics.verdicts.pass == 1, "the work, not the passing health check")
            #expect(statistics.verdicts.error == 0, "nor the failed one")
            #expect(statistics.testruns.total == 1)
        }
    }

    @Test func theServersConfigurationReadsHealthAndRefusesWhatIsWrong() throws {
        let folder = FileManager.default.temporaryDirectory.path + "/ots-health-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        func load(_ text: String) throws(ConfigurationError) -> ServerConfiguration {
            let path = folder + "/server.toml"
            _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
            var configuration = ServerConfiguration()
            try configuration.load(file: path)
            return configuration
        }
        let configuration = try load(
            """
            refuse_unservable = true
            [health]
            bad_after = 4
            window = 10
            bad_rate = 0.25
            max_health_checks = 5
            health_check_backoff = 2
            health_check_backoff_max = 8
            health_check_interval = 0.5
            health_check_every = 50
            [health_check.phones]
            image = "https://images.lab/known-good.img"
            packages = ["smoke"]
            timeout = 900
            """)
        #expect(configuration.refuseUnservable)
        let rules = configuration.health.rules(for: "phones")
        #expect(rules.badAfter == 4 && rules.window == 10 && rules.badRate == 0.25 && rules.maxHealthChecks == 5)
        #expect(rules.backoff == 2 && rules.backoffMax == 8 && rules.checkInterval == 1800 && rules.checkEvery == 50)
        #expect(rules.hasHealthCheck)
        #expect(!configuration.health.rules(for: "other").hasHealthCheck)
        let request = try #require(
            configuration.health.request(for: DeviceProperties(devicegroup: "phones", devicename: "n1"), workerID: "h/w1"))
        #expect(request.image == "https://images.lab/known-good.img")
        #expect(request.packages.device == ["smoke"])
        #expect(request.timeout == 900)
        #expect(request.device.devicename == "n1")

        let defaults = ServerConfiguration().health.rules
        #expect(defaults.badAfter == 3 && defaults.window == 20 && defaults.badRate == 0.5 && defaults.maxHealthChecks == 3)
        #expect(defaults.checkInterval == nil && defaults.checkEvery == nil)

        for (text, message) in [
            ("[health]\nbad_rate = 2", "health.bad_rate: must be from 0.0 to 1.0, not 2.0"),
            ("[health]\nbad_afer = 2", "unknown key 'health.bad_afer'"),
            ("[health]\nhealth_check_backoff = 10\nhealth_check_backoff_max = 5", "health.health_check_backoff_max: must be at least"),
            ("[health_check.phones]\nimage = \"https://x/y\"", "health_check.phones.packages: give at least one package"),
            ("[health_check.\"a b\"]\npackages = [\"p\"]", "health_check.a b: not a device group"),
            ("[health_check.phones]\npackages = [\"p\"]\nflavour = 1", "unknown key 'health_check.phones.flavour'"),
        ] {
            #expect(throws: ConfigurationError.self, "\(text)") { _ = try load(text) }
            do {
                _ = try load(text)
            } catch {
                #expect(error.description.contains(message), "\(error.description)")
            }
        }
    }
}
