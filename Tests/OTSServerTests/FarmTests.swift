import Foundation
import Logging
import OTSCore
import OTSHTTP
import OTSStore
import Testing

@testable import OTSServer

/// The server's decisions over a real store, with the clock given: leases,
/// timeouts, duplicates, owners and verdicts, without HTTP.
@Suite struct FarmLogicTests {
    static let logger: Logger = {
        var logger = Logger(label: "ots.server.test")
        logger.logLevel = .critical
        return logger
    }()

    /// A farm on a new SQLite file.
    static func withFarm(_ configure: (inout ServerConfiguration) -> Void = { _ in }, _ body: (Farm) async throws -> Void) async throws {
        let folder = FileManager.default.temporaryDirectory.path + "/ots-farm-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var configuration = ServerConfiguration()
        configuration.leaseSeconds = 10
        configuration.queueTimeout = 100
        configuration.executionTimeout = 1000
        configure(&configuration)
        let store = try await Store.open(.sqlite(path: folder + "/ots.sqlite"), logger: logger)
        do {
            try await body(Farm(store: store, configuration: configuration, logger: logger))
        } catch {
            await store.close()
            throw error
        }
        await store.close()
    }

    static func register(_ farm: Farm, _ instance: String, group: String = "g", at now: Date) async throws -> String {
        let registration = WorkerRegistration(host: "h", instance: instance, pid: 1, device: DeviceProperties(devicegroup: group))
        return try await farm.register((registration), at: now).workerID
    }

    /// Passed runs of a package's sets (name, seconds) in device group g,
    /// from an earlier testrun.
    static func setHistory(package: String = "p", _ sets: [(String, Double)], at now: Date) -> [HistoryRecord] {
        sets.map {
            HistoryRecord(
                package: package, setName: $0.0, deviceGroup: "g", duration: .seconds($0.1), verdict: "PASS", testrunID: "earlier",
                finishedAt: now.addingTimeInterval(-100))
        }
    }

    static func submit(_ farm: Farm, packages: [String], group: String = "g", timeout: Int? = nil, at now: Date) async throws -> TestrunView
    {
        var request = TestrunRequest(device: DeviceProperties(devicegroup: group), packages: .init(device: packages))
        request.timeout = timeout
        return try await farm.submit(request, at: now)
    }

    let start = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func aVanishedWorkersTaskIsRequeuedOnceThenErrors() async throws {
        try await Self.withFarm { farm in
            let worker = try await Self.register(farm, "w1", at: start)
            let testrun = try await Self.submit(farm, packages: ["a"], at: start)
            let first = try #require(try await farm.claim(workerID: worker, wait: .zero) { start })
            #expect(first.attempt == 1)

            // Before the lease ends nothing happens.
            #expect(try await farm.sweep(at: start.addingTimeInterval(9)).requeued == 0)
            #expect(try await farm.sweep(at: start.addingTimeInterval(11)).requeued == 1)
            let again = try #require(try await farm.claim(workerID: worker, wait: .zero) { start.addingTimeInterval(12) })
            #expect(again.taskID == first.taskID)
            #expect(again.attempt == 2)

            let report = try await farm.sweep(at: start.addingTimeInterval(30))
            #expect(report.failed == 1)
            let view = try await farm.testrun(id: testrun.id)
            #expect(view.state == .finished)
            #expect(view.verdict == .error)
            #expect(view.error?.category == .infrastructure)
            #expect(view.error?.message.contains("stopped answering") == true)
        }
    }

    @Test func aHeartbeatKeepsTheLeaseAndTellsALoserToStop() async throws {
        try await Self.withFarm { farm in
            let worker = try await Self.register(farm, "w1", at: start)
            _ = try await Self.submit(farm, packages: ["a"], at: start)
            let task = try #require(try await farm.claim(workerID: worker, wait: .zero) { start })
            let beat = (Heartbeat(workerID: worker, state: "busy", taskID: task.taskID))
            #expect(try await farm.heartbeat(beat, at: start.addingTimeInterval(8)).stopTask == false)
            #expect(try await farm.sweep(at: start.addingTimeInterval(15)).requeued == 0, "renewed at 8 s, so it lasts to 18 s")
            #expect(try await farm.sweep(at: start.addingTimeInterval(19)).requeued == 1)
            let late = try await farm.heartbeat(beat, at: start.addingTimeInterval(20))
            #expect(late.stopTask)
            #expect(late.reason == "the task was handed to another worker")
        }
    }

    @Test func aHeartbeatKeepsTheLeasesOfTasksWhoseReportsWaitInTheSpool() async throws {
        try await Self.withFarm { farm in
            let worker = try await Self.register(farm, "w1", at: start)
            let other = try await Self.register(farm, "w2", at: start)
            _ = try await Self.submit(farm, packages: ["a"], at: start)
            _ = try await Self.submit(farm, packages: ["b"], at: start)
            let ended = try #require(try await farm.claim(workerID: worker, wait: .zero) { start })
            let others = try #require(try await farm.claim(workerID: other, wait: .zero) { start })

            // The instance is free; its task's reports wait in its spool.
            // It cannot keep a task another worker holds.
            let beat =
                (Heartbeat(workerID: worker, state: "free", spooledTaskIDs: [ended.taskID, others.taskID, UUID().uuidString.lowercased()]))
            #expect(try await farm.heartbeat(beat, at: start.addingTimeInterval(8)).stopTask == false)

            let swept = try await farm.sweep(at: start.addingTimeInterval(15))
            #expect(swept.requeued == 1, "only the other worker's task, not renewed, ran out")
            let states = try await farm.store.transaction { tx in
                [try await tx.task(id: ended.taskID)?.state, try await tx.task(id: others.taskID)?.state]
            }
            #expect(states == [.claimed, .queued])
        }
    }

    @Test func aHeartbeatTellsTheInstancesStateAndAnUnknownStateIsRefused() async throws {
        try await Self.withFarm { farm in
            let worker = try await Self.register(farm, "w1", at: start)
            let full = (Heartbeat(workerID: worker, state: "spool_full"))
            _ = try await farm.heartbeat(full, at: start)
            #expect(try await farm.store.transaction { tx in try await tx.worker(id: worker)?.state } == "spool_full")

            let odd = (Heartbeat(workerID: worker, state: "sleeping"))
            let error = try await #require(throws: DomainError.self) { try await farm.heartbeat(odd, at: start) }
            #expect(error.field == "state")
            #expect(error.message == "state: must be one of free, busy, spool_full, not 'sleeping'")
            #expect(try await farm.store.transaction { tx in try await tx.worker(id: worker)?.state } == "spool_full", "changes nothing")
        }
    }

    @Test func aHeartbeatWithTooManySpooledTasksIsRefusedNamingTheField() async throws {
        try await Self.withFarm { farm in
            let worker = try await Self.register(farm, "w1", at: start)
            let ids = (0...Heartbeat.spooledLimit).map { "t\($0)" }
            let beat = (Heartbeat(workerID: worker, state: "free", spooledTaskIDs: ids))

            let error = try await #require(throws: DomainError.self) { try await farm.heartbeat(beat, at: start) }

            #expect(error.field == "spooled_task_ids")
        }
    }

    @Test func queueAndTestrunTimeoutsEndInError() async throws {
        try await Self.withFarm { farm in
            let waiting = try await Self.submit(farm, packages: ["a"], group: "nobody", at: start)
            let bounded = try await Self.submit(farm, packages: ["b"], group: "g", timeout: 50, at: start)
            let worker = try await Self.register(farm, "w1", at: start)
            _ = try #require(try await farm.claim(workerID: worker, wait: .zero) { start })

            _ = try await farm.sweep(at: start.addingTimeInterval(51))
            let timedOut = try await farm.testrun(id: bounded.id)
            #expect(timedOut.verdict == .error)
            #expect(timedOut.error?.message == "the testrun timed out after 50 s")
            #expect(timedOut.tasks?.first?.state == .cancelled)
            #expect(try await farm.testrun(id: waiting.id).state == .queued, "the queue timeout has not passed yet")

            _ = try await farm.sweep(at: start.addingTimeInterval(101))
            let unclaimed = try await farm.testrun(id: waiting.id)
            #expect(unclaimed.verdict == .error)
            #expect(unclaimed.error == TestrunView.Failure(category: .infrastructure, message: "no worker took the task within 100 s"))
        }
    }

    @Test func eventsCountOnceAndOnlyTheOwnerMovesItsTask() async throws {
        try await Self.withFarm { farm in
            let worker = try await Self.register(farm, "w1", at: start)
            let testrun = try await Self.submit(farm, packages: ["a"], at: start)
            let task = try #require(try await farm.claim(workerID: worker, wait: .zero) { start })
            let started = MonitorEvent(
                type: .taskStarted, sender: .init(host: "h", instance: "w1"), testrunID: testrun.id, taskID: task.taskID,
                attempt: task.attempt)
            var flash = MonitorEvent(
                type: .flashStarted, sender: .init(host: "h", instance: "intruder"), testrunID: testrun.id, taskID: task.taskID,
                attempt: task.attempt)
            flash.tryNumber = 3
            let batch = (EventBatch(events: [started]))
            #expect(try await farm.receive(batch, at: start) == EventBatchReply(accepted: 1, duplicates: 0))
            #expect(try await farm.receive(batch, at: start) == EventBatchReply(accepted: 0, duplicates: 1))
            await #expect(throws: DomainError.self, "another worker's event is refused") {
                try await farm.receive((EventBatch(events: [flash])), at: start)
            }

            let view = try await farm.testrun(id: testrun.id)
            #expect(view.state == .running, "task.started starts the testrun")
            #expect(view.tasks?.first?.phase == "image")
            #expect(view.tasks?.first?.flashTries == 0, "another worker's event does not move the task")
        }
    }

    @Test func finishingIsForTheOwnerAndARepeatIsAcknowledged() async throws {
        try await Self.withFarm { farm in
            let worker = try await Self.register(farm, "w1", at: start)
            let testrun = try await Self.submit(farm, packages: ["a"], at: start)
            let task = try #require(try await farm.claim(workerID: worker, wait: .zero) { start })
            let intruder = (TaskFinish(workerID: "h/other", verdict: .pass))
            await #expect(throws: DomainError.self) { try await farm.finish(taskID: task.taskID, intruder, at: start) }

            let finish = (TaskFinish(workerID: worker, verdict: .pass))
            try await farm.finish(taskID: task.taskID, finish, at: start)
            try await farm.finish(taskID: task.taskID, finish, at: start)
            let view = try await farm.testrun(id: testrun.id)
            #expect(view.verdict == .error, "a task that uploaded no results leaves its package without results")
            #expect(view.error?.message == "no results for package a")
        }
    }

    @Test func refusedRequestsNameTheFieldAndStoreNothing() async throws {
        try await Self.withFarm { farm in
            let bodies: [(String, String)] = [
                (#"{"device": {"devicegroup": "g"}, "packages": {"device": []}}"#, "packages"),
                (#"{"device": {"devicegroup": 7}, "packages": {"device": ["a"]}}"#, "device.devicegroup"),
                (#"{"device": {"devicegroup": "g"}, "packages": {"device": ["a", 1]}}"#, "packages.device[1]"),
                (#"[]"#, "body"),
                ("", "body"),
            ]
            for (body, field) in bodies {
                // As the route does: decode, then submit.
                do {
                    let request = try APIError.decodeBody(TestrunRequest.self, from: Data(body.utf8), what: "the testrun request")
                    _ = try await farm.submit(request, at: start)
                    Issue.record("accepted \(body)")
                } catch let error as APIError {
                    #expect(error.code == .badRequest)
                    #expect(error.field == field, "\(body): \(error.message)")
                } catch let error as DomainError {
                    #expect(error.code == .invalid)
                    #expect(error.field == field, "\(body): \(error.message)")
                }
            }
            #expect(try await farm.testruns(.init()).testruns.isEmpty)
        }
    }
}

@Suite(.timeLimit(.minutes(1))) struct TaskSignalTests {
    @Test func aNotifyBeforeTheWaitIsNotMissed() async {
        let signal = TaskSignal()
        let generation = signal.generation
        signal.notify()
        // Would wait an hour if the notify were lost.
        await signal.wait(after: generation, upTo: .seconds(3600))
        #expect(signal.generation == generation + 1)
    }

    @Test func aWaitEndsOnNotify() async {
        let signal = TaskSignal()
        let generation = signal.generation
        let cancelledWhenItEnded = await withTaskGroup(of: Bool?.self) { group in
            group.addTask {
                await signal.wait(after: generation, upTo: .seconds(3600))
                return Task.isCancelled
            }
            group.addTask {
                // Whether the wait has begun cannot be seen: notify until it ends.
                while !Task.isCancelled {
                    signal.notify()
                    try? await Task.sleep(for: .milliseconds(10))
                }
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        // Neither cancelled nor timed out (an hour, past the suite's limit):
        // the notify ended it.
        #expect(cancelledWhenItEnded == false, "the wait ended by itself, not cancelled")
        #expect(signal.generation > generation, "a notify came")
    }

    @Test func aWaitEndsOnCancellation() async {
        let signal = TaskSignal()
        let generation = signal.generation
        let task = Task { () -> Bool in
            await signal.wait(after: generation, upTo: .seconds(3600))
            return Task.isCancelled
        }
        task.cancel()
        #expect(await task.value, "the wait ended cancelled")
        // No notify, and its timeout is an hour, past the suite's limit:
        // the cancellation ended it.
        #expect(signal.generation == generation, "no notify came")
    }

    @Test func aWaitEndsAtItsTimeoutAndLeavesNothingBehind() async {
        let signal = TaskSignal()
        let generation = signal.generation
        let clock = ContinuousClock()
        let started = clock.now
        await signal.wait(after: generation, upTo: .milliseconds(50))
        #expect(clock.now - started >= .milliseconds(50), "it waited its time")
        #expect(signal.generation == generation, "no notify came")
        #expect(signal.waits == 0)
        // Waits ended every way at once: by their timeout, a notify, or
        // both racing. None stays registered.
        await withTaskGroup(of: Void.self) { group in
            for number in 0..<50 {
                group.addTask { await signal.wait(after: signal.generation, upTo: .milliseconds(number % 5)) }
                if number % 7 == 0 { signal.notify() }
            }
        }
        #expect(signal.waits == 0)
        // A timer that fires after its wait ended (cancelling it can race
        // with its firing) finds nothing to wake and registers nothing.
        signal.wake(1)
        #expect(signal.waits == 0)
    }
}

@Suite struct ServerConfigurationTests {
    func file(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.path + "/ots-server-\(UUID().uuidString).toml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func aFileThenTheEnvironmentOverrideTheDefaults() throws {
        let path = try file(
            """
            database = "sqlite:///srv/ots.sqlite"
            port = 9000
            lease_seconds = 12.5
            requeues = 3
            enrollment_secret = "from-file-0123456789"
            anonymous_read = true
            db_unavailable_seconds = 2
            """)
        defer { try? FileManager.default.removeItem(atPath: path) }
        var configuration = ServerConfiguration()
        #expect(configuration.dbUnavailableSeconds == 5)
        try configuration.load(file: path)
        #expect(configuration.port == 9000)
        #expect(configuration.dbUnavailableSeconds == 2)
        #expect(configuration.leaseSeconds == 12.5)
        #expect(configuration.maxAttempts == 4)
        #expect(configuration.database == .sqlite(path: "/srv/ots.sqlite"))
        #expect(configuration.enrollmentSecret == "from-file-0123456789")
        #expect(configuration.access == AccessPolicy(mode: .tokens, anonymousRead: true))
        try configuration.load(environment: ["OTS_PORT": "9100", "OTS_ENROLLMENT_SECRET": "from-env-0123456789"])
        #expect(configuration.port == 9100)
        #expect(configuration.enrollmentSecret == "from-env-0123456789")
        #expect(configuration.queueTimeout == 3600, "untouched defaults stay")
    }

    @Test(arguments: [
        ("prot = 1", "unknown key 'prot'"),
        ("port = \"high\"", "port: must be an integer"),
        ("port = 70000", "port: must be from 0 to 65535, not 70000"),
        ("lease_seconds = -1", "lease_seconds: must be from 0"),
        ("database = \"mysql://x/y\"", "database:"),
        ("port = 1\nport = 2", ":2:"),
        ("auth = \"maybe\"", "auth: must be \"tokens\" or \"off\", not \"maybe\""),
        ("anonymous_read = \"yes\"", "anonymous_read: must be"),
        ("tls_key = \"key.pem\"", "tls_certificate: required with tls_key"),
        ("tls_certificate = \"cert.pem\"", "tls_key: required with tls_certificate"),
        ("db_unavailable_seconds = 0", "db_unavailable_seconds: must be at least 0.1 seconds"),
    ])
    func badFilesNameTheFileAndKey(text: String, expected: String) throws {
        let path = try file(text)
        defer { try? FileManager.default.removeItem(atPath: path) }
        var configuration = ServerConfiguration()
        do {
            try configuration.load(file: path)
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.description.hasPrefix(path))
            #expect(error.description.contains(expected), "\(error.description)")
        }
    }

    @Test func tokensNeedAnEnrollmentSecretOfSomeLength() throws {
        var configuration = ServerConfiguration()
        #expect(configuration.access.mode == .tokens, "tokens are checked unless switched off")
        #expect(!configuration.access.anonymousRead, "reading needs a token unless opened")
        var refused = try #require(throwing(configuration.validate))
        #expect(refused.description.contains("enrollment_secret: required when auth is \"tokens\""), "\(refused)")
        configuration.enrollmentSecret = "short"
        refused = try #require(throwing(configuration.validate))
        #expect(refused.description.contains("at least 16 characters"), "\(refused)")
        configuration.enrollmentSecret = "long-enough-secret"
        try configuration.validate()
        configuration.enrollmentSecret = nil
        configuration.access.mode = .off
        try configuration.validate()
        configuration.tls = TLSFiles(certificate: "/nonexistent/cert.pem", key: "/nonexistent/key.pem")
        refused = try #require(throwing(configuration.validate))
        #expect(refused.description == "/nonexistent/cert.pem: tls_certificate: cannot read the file")
    }

    private func throwing(_ body: () throws(ConfigurationError) -> Void) -> ConfigurationError? {
        do {
            try body()
            return nil
        } catch {
            return error
        }
    }

    @Test func aBadPortVariableIsRefused() {
        var configuration = ServerConfiguration()
        #expect(throws: ConfigurationError.self) { try configuration.load(environment: ["OTS_PORT": "eighty"]) }
    }
}

/// The history model as the server runs it: over the store's history,
/// statistics and workers.
@Suite struct FarmHistoryTests {
    @Test func aHistoryPlanSplitsSetsAndIsRecordedWithItsData() async throws {
        try await FarmLogicTests.withFarm { farm in
            let now = Date()
            for instance in ["w1", "w2", "w3"] {
                _ = try await FarmLogicTests.register(farm, instance, at: now)
            }
            _ = try await FarmLogicTests.register(farm, "elsewhere", group: "other", at: now)
            try await farm.store.transaction { tx in
                func run(_ set: String?, _ seconds: Int64, verdict: String = "PASS", ago: Double) -> HistoryRecord {
                    HistoryRecord(
                        package: "p", setName: set, deviceGroup: "g", duration: .seconds(seconds), verdict: verdict, testrunID: "earlier",
                        finishedAt: now.addingTimeInterval(-ago))
                }
                // a 40 s, b 30 s, c 20 s; a newer run of a that ended in an error does not count.
                try await tx.recordHistory([
                    run("a", 1, verdict: "ERROR", ago: 10), run("a", 40, ago: 100), run("b", 30, ago: 100), run("c", 20, ago: 100),
                    run(nil, 95, ago: 100),
                ])
                try await tx.storeEvents([
                    EventRecord(
                        id: "f1", type: "device.flash.finished", emittedAt: now, receivedAt: now, payload: "{}", durationMs: 6_000,
                        deviceGroup: "g"),
                    EventRecord(
                        id: "b1", type: "device.boot.finished", emittedAt: now, receivedAt: now, payload: "{}", durationMs: 2_000,
                        deviceGroup: "g"),
                ])
            }
            var request = TestrunRequest(device: DeviceProperties(devicegroup: "g"), packages: .init(device: ["p"]))
            request.distributionModel = "history"
            let testrun = try await farm.submit(request, at: now)

            // Three workers: a | b | c. The sets came from history, so the
            // task with the longest runs every set but the others.
            let works = try #require(testrun.tasks).map { try #require($0.work) }
            #expect(
                works == [
                    TaskWork(packages: [TaskWork.Package(name: "p", location: .device, skipSets: ["b", "c"], setOrder: ["a"])]),
                    TaskWork(packages: [TaskWork.Package(name: "p", location: .device, sets: ["b"], setOrder: ["b"])]),
                    TaskWork(packages: [TaskWork.Package(name: "p", location: .device, sets: ["c"], setOrder: ["c"])]),
                ])
            let plan = try #require(testrun.plan)
            #expect(plan.model == "history")
            #expect(plan.tasks == 3)
            #expect(plan.workersAvailable == 3)
            #expect(plan.taskCostSeconds == 8)
            #expect(plan.taskCostSource == "statistics")
            #expect(plan.estimatedMakespanSeconds == 48)
            #expect(plan.historyIgnored == 1)
            #expect(plan.degraded == false)
            #expect(
                plan.estimates == [
                    PlanRecord.Estimate(package: "p", set: "a", seconds: 40, source: "last_run", task: 0),
                    PlanRecord.Estimate(package: "p", set: "b", seconds: 30, source: "last_run", task: 1),
                    PlanRecord.Estimate(package: "p", set: "c", seconds: 20, source: "last_run", task: 2),
                ])
            #expect(try await farm.testrun(id: testrun.id).plan == plan)

            // And it is told as an event.
            var planned: MonitorEvent?
            _ = try await farm.store.consume(consumer: "test") { _, messages in
                planned = messages.compactMap { try? JSONCoding.decoder().decode(MonitorEvent.self, from: Data($0.payload.utf8)) }
                    .first { $0.type == .testrunPlanned }
            }
            #expect(planned?.testrunID == testrun.id)
            #expect(planned?.details?["tasks"] == "3")
            #expect(planned?.details?["estimated_makespan_seconds"] == "48.0")
            let recorded = try JSONCoding.decoder().decode(PlanRecord.self, from: Data(try #require(planned?.details?["plan"]).utf8))
            #expect(recorded == plan)
        }
    }

    @Test func withoutHistoryAPackageIsPlannedWholeAndTheModelSaysSo() async throws {
        try await FarmLogicTests.withFarm { farm in
            _ = try await FarmLogicTests.register(farm, "w1", at: Date())
            var request = TestrunRequest(device: DeviceProperties(devicegroup: "g"), packages: .init(device: ["new", "other"]))
            request.distributionModel = "history"
            let testrun = try await farm.submit(request)
            let plan = try #require(testrun.plan)
            #expect(plan.tasks == 1)
            #expect(plan.degraded == true)
            #expect(plan.taskCostSource == "default")
            #expect(plan.notes.contains("new: its sets are not known (no set history); planned whole"))
            #expect(testrun.tasks?.first?.work?.packages.map(\.sets) == [nil, nil])
        }
    }

    @Test(arguments: [true, false])
    func aDefinitionThatKeepsItsPackageWholeIsPlannedAndRunInOneTask(keepWhole: Bool) async throws {
        let folder = FileManager.default.temporaryDirectory.path + "/ots-keep-whole-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let sets = ["a", "b", "c"].map { #"<set name="\#($0)"><case name="c-\#($0)"><step>true</step></case></set>"# }
        let xml = """
            <?xml version="1.0"?>
            \(keepWhole ? #"<?ots keep-whole="true"?>"# : "")
            <testdefinition version="1"><suite name="s">\(sets.joined())</suite></testdefinition>
            """
        try Data(xml.utf8).write(to: URL(fileURLWithPath: folder + "/tests.xml"))
        let url = "file://" + folder + "/tests.xml"
        try await FarmLogicTests.withFarm { farm in
            let now = Date()
            let w1 = try await FarmLogicTests.register(farm, "w1", at: now)
            _ = try await FarmLogicTests.register(farm, "w2", at: now)
            _ = try await FarmLogicTests.register(farm, "w3", at: now)
            try await farm.store.transaction { tx in
                try await tx.recordHistory(FarmLogicTests.setHistory(package: url, [("a", 40), ("b", 30), ("c", 20)], at: now))
            }
            var request = TestrunRequest(device: DeviceProperties(devicegroup: "g"), packages: .init())
            request.testDefinitions = [url]
            request.distributionModel = "history"
            let testrun = try await farm.submit(request, at: now)
            let works = try #require(testrun.tasks).compactMap(\.work)
            guard keepWhole else {
                #expect(works.count == 3, "three workers, three sets: one each")
                return
            }
            // One task runs the package whole, in definition order.
            #expect(works == [TaskWork(packages: [TaskWork.Package(name: url, location: .url)])])
            #expect(testrun.plan?.estimates == [PlanRecord.Estimate(package: url, set: nil, seconds: 90, source: "set_sum", task: 0)])

            // And balancing leaves it whole: idle workers take nothing.
            let first = try #require(try await farm.claim(workerID: w1, wait: .zero) { now })
            let started = MonitorEvent(
                type: .taskStarted, sender: FarmBalancingTests.sender("w1"), testrunID: testrun.id, taskID: first.taskID,
                attempt: first.attempt)
            _ = try await farm.receive((EventBatch(events: [started])), at: now)
            #expect(
                try await farm.startSet(
                    taskID: first.taskID, (SetStart(workerID: w1, package: url, set: "a")), at: now
                ).run)
            let w4 = try await FarmLogicTests.register(farm, "w4", at: now)
            #expect(try await farm.claim(workerID: w4, wait: .zero) { now.addingTimeInterval(1) } == nil)
        }
    }

    @Test func otherModelsRecordTheirPlanToo() async throws {
        try await FarmLogicTests.withFarm { farm in
            let testrun = try await FarmLogicTests.submit(farm, packages: ["a", "b"], at: Date())
            #expect(testrun.plan == PlanRecord(model: "perpackage", tasks: 2, notes: ["one task per package (2)"]))
        }
    }
}

/// Dynamic balancing at claim time: sets move only before they start, and
/// each runs in exactly one task.
@Suite struct FarmBalancingTests {
    static func sender(_ instance: String) -> MonitorEvent.Sender { MonitorEvent.Sender(host: "h", instance: instance, pid: 1) }

    func start(_ farm: Farm, _ set: String, task: String, worker: String, at now: Date) async throws -> Bool {
        try await farm.startSet(
            taskID: task, (SetStart(workerID: worker, package: "p", set: set)), at: now
        ).run
    }

    @Test func anIdleWorkerTakesSetsNotStartedAndEachRunsOnce() async throws {
        try await FarmLogicTests.withFarm { farm in
            let now = Date()
            let w1 = try await FarmLogicTests.register(farm, "w1", at: now)
            try await farm.store.transaction { tx in
                try await tx.recordHistory(FarmLogicTests.setHistory([("a", 40), ("b", 30), ("c", 20), ("d", 10)], at: now))
                try await tx.storeEvents([
                    EventRecord(
                        id: "f1", type: "device.flash.finished", emittedAt: now, receivedAt: now, payload: "{}", durationMs: 600,
                        deviceGroup: "g"),
                    EventRecord(
                        id: "b1", type: "device.boot.finished", emittedAt: now, receivedAt: now, payload: "{}", durationMs: 400,
                        deviceGroup: "g"),
                ])
            }
            var request = TestrunRequest(device: DeviceProperties(devicegroup: "g"), packages: .init(device: ["p"]))
            request.distributionModel = "history"
            let testrun = try await farm.submit(request, at: now)
            #expect(testrun.plan?.tasks == 1, "one worker was online")
            let w2 = try await FarmLogicTests.register(farm, "w2", at: now)

            let first = try #require(try await farm.claim(workerID: w1, wait: .zero) { now })
            #expect(first.askBeforeSets == true)
            #expect(first.work.packages == [TaskWork.Package(name: "p", location: .device, setOrder: ["a", "b", "c", "d"])])
            let started = MonitorEvent(
                type: .taskStarted, sender: Self.sender("w1"), testrunID: testrun.id, taskID: first.taskID, attempt: first.attempt)
            _ = try await farm.receive((EventBatch(events: [started])), at: now)
            #expect(try await start(farm, "a", task: first.taskID, worker: w1, at: now))

            // At 1 s: a (40 s) has 39 s left, b, c and d (60 s) wait. With
            // 1 s to pay for the new task, taking b, c and d ends both at
            // 61 s instead of 99 s: 38 s saved; taking c and d saves 30.
            let second = try #require(try await farm.claim(workerID: w2, wait: .zero) { now.addingTimeInterval(1) })
            #expect(second.testrunID == testrun.id)
            #expect(
                second.work.packages == [TaskWork.Package(name: "p", location: .device, sets: ["b", "c", "d"], setOrder: ["b", "c", "d"])])
            #expect(second.askBeforeSets == true)

            // The first task no longer runs them, but still every other set
            // (one history never saw included); a started set stays.
            #expect(try await !start(farm, "b", task: first.taskID, worker: w1, at: now.addingTimeInterval(2)))
            #expect(try await start(farm, "a", task: first.taskID, worker: w1, at: now.addingTimeInterval(2)))
            #expect(try await start(farm, "new-set", task: first.taskID, worker: w1, at: now.addingTimeInterval(2)))
            #expect(try await start(farm, "b", task: second.taskID, worker: w2, at: now.addingTimeInterval(2)))
            #expect(try await !start(farm, "a", task: second.taskID, worker: w2, at: now.addingTimeInterval(2)))
            #expect(try await !start(farm, "new-set", task: second.taskID, worker: w2, at: now.addingTimeInterval(2)))

            let view = try await farm.testrun(id: testrun.id)
            let works = try #require(view.tasks).compactMap(\.work)
            for set in ["a", "b", "c", "d", "new-set"] {
                #expect(works.filter { $0.packages.contains { $0.runs(set: set) } }.count == 1, "\(set) runs in one task")
            }
            #expect(works.first?.packages.first?.skipSets == ["b", "c", "d"])
            // The move is told with the new task.
            var queued: [MonitorEvent] = []
            _ = try await farm.store.consume(consumer: "test") { _, messages in
                queued = messages.compactMap { try? JSONCoding.decoder().decode(MonitorEvent.self, from: Data($0.payload.utf8)) }
                    .filter { $0.type == .taskQueued && $0.taskID == second.taskID }
            }
            #expect(queued.first?.details?["moved_from"] == first.taskID)
            #expect(queued.first?.details?["sets"] == "p/b p/c p/d")

            // Only the holder asks.
            await #expect(throws: DomainError.self) {
                _ = try await start(farm, "c", task: second.taskID, worker: w1, at: now.addingTimeInterval(3))
            }
        }
    }

    @Test func nothingMovesWhenItWouldNotSaveTheCost() async throws {
        try await FarmLogicTests.withFarm { farm in
            let now = Date()
            let w1 = try await FarmLogicTests.register(farm, "w1", at: now)
            try await farm.store.transaction { tx in
                try await tx.recordHistory(FarmLogicTests.setHistory([("a", 40), ("b", 2)], at: now))
            }
            var request = TestrunRequest(device: DeviceProperties(devicegroup: "g"), packages: .init(device: ["p"]))
            request.distributionModel = "history"
            let testrun = try await farm.submit(request, at: now)
            let w2 = try await FarmLogicTests.register(farm, "w2", at: now)
            let first = try #require(try await farm.claim(workerID: w1, wait: .zero) { now })
            let started = MonitorEvent(
                type: .taskStarted, sender: Self.sender("w1"), testrunID: testrun.id, taskID: first.taskID, attempt: first.attempt)
            _ = try await farm.receive((EventBatch(events: [started])), at: now)
            #expect(try await start(farm, "a", task: first.taskID, worker: w1, at: now))
            // Taking b (2 s) would save 2 s; without statistics a task costs 120 s.
            #expect(try await farm.claim(workerID: w2, wait: .zero) { now.addingTimeInterval(1) } == nil)
        }
    }

    @Test(arguments: [("http://images/build-7.img", true), ("http://images/build-8.img", false)])
    func aDeviceThatLastFlashedTheImageInAnEarlierTestrunHasNothingToFlash(image: String, same: Bool) async throws {
        try await FarmLogicTests.withFarm { farm in
            let now = Date()
            let w1 = try await FarmLogicTests.register(farm, "w1", at: now)
            let w2 = try await FarmLogicTests.register(farm, "w2", at: now)
            try await farm.store.transaction { tx in
                try await tx.recordHistory(FarmLogicTests.setHistory([("a", 40), ("b", 2)], at: now))
            }
            // An earlier testrun: w2 flashes `image` and boots.
            var earlier = TestrunRequest(device: DeviceProperties(devicegroup: "g"), packages: .init(device: ["q"]))
            earlier.image = image
            let before = try await farm.submit(earlier, at: now)
            let flashed = try #require(try await farm.claim(workerID: w2, wait: .zero) { now })
            #expect(flashed.testrunID == before.id)
            let events = [EventType.taskStarted, .flashStarted, .flashFinished, .bootStarted].map {
                MonitorEvent(type: $0, sender: Self.sender("w2"), testrunID: before.id, taskID: flashed.taskID, attempt: flashed.attempt)
            }
            _ = try await farm.receive((EventBatch(events: events)), at: now)
            try await farm.finish(
                taskID: flashed.taskID, (TaskFinish(workerID: w2, verdict: .pass)), at: now)

            // One task of build 7: a (40 s) starts; b (2 s) waits.
            var request = TestrunRequest(device: DeviceProperties(devicegroup: "g"), packages: .init(device: ["p"]))
            request.distributionModel = "history"
            request.image = "http://images/build-7.img"
            request.maxWorkerAmount = 1
            let testrun = try await farm.submit(request, at: now)
            let first = try #require(try await farm.claim(workerID: w1, wait: .zero) { now })
            #expect(first.testrunID == testrun.id)
            let started = MonitorEvent(
                type: .taskStarted, sender: Self.sender("w1"), testrunID: testrun.id, taskID: first.taskID, attempt: first.attempt)
            _ = try await farm.receive((EventBatch(events: [started])), at: now)
            #expect(try await start(farm, "a", task: first.taskID, worker: w1, at: now))

            // Taking b saves 2 s: worth it only with nothing to flash (the
            // task cost is 120 s without statistics).
            let second = try await farm.claim(workerID: w2, wait: .zero) { now.addingTimeInterval(1) }
            if same {
                #expect(second?.testrunID == testrun.id)
                #expect(second?.work.packages == [TaskWork.Package(name: "p", location: .device, sets: ["b"], setOrder: ["b"])])
            } else {
                #expect(second == nil)
            }
        }
    }

    @Test func theCostOfATakenTaskIsNothingWhenTheDeviceHoldsTheImage() {
        func request(_ image: String?, _ checksum: String? = nil) -> TestrunRequest {
            var request = TestrunRequest(device: DeviceProperties(devicegroup: "g"), packages: .init(device: ["p"]))
            request.image = image
            request.imageChecksum = checksum
            return request
        }
        let build7 = request("http://i/7.img")
        #expect(Farm.balancingCost(taskCost: 90, heldTask: true, request: build7, lastFlashed: nil) == 0, "it ran a task of the testrun")
        #expect(Farm.balancingCost(taskCost: 90, heldTask: false, request: build7, lastFlashed: request("http://i/7.img")) == 0)
        #expect(Farm.balancingCost(taskCost: 90, heldTask: false, request: build7, lastFlashed: request("http://i/8.img")) == 90)
        #expect(Farm.balancingCost(taskCost: 90, heldTask: false, request: build7, lastFlashed: nil) == 90)
        #expect(Farm.balancingCost(taskCost: nil, heldTask: false, request: build7, lastFlashed: nil) == 0)
        let sum = "sha256:" + String(repeating: "ab", count: 32)
        #expect(Farm.sameImage(request("http://i/7.img", sum), request("http://i/7.img", "sha256:" + String(repeating: "AB", count: 32))))
        #expect(!Farm.sameImage(request("http://i/7.img", sum), request("http://i/7.img")), "a checksum on one side only")
        #expect(!Farm.sameImage(request(nil), request(nil)), "no image: nothing known is held")
    }
}
