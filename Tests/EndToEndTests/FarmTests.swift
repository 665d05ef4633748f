import Foundation
import OTSClient
import OTSCore
import Testing

/// The farm end to end: a real `ots server` and real `ots worker` processes
/// with simulated devices, on loopback, on SQLite and on PostgreSQL.
@Suite(.serialized, .timeLimit(.minutes(10))) struct FarmTests {
    static let two = [TestFarm.WorkerSpec(name: "w1"), TestFarm.WorkerSpec(name: "w2")]

    @Test(arguments: FarmEngine.available)
    func multiPackageTestrunRunsOnBothWorkersAndPasses(engine: FarmEngine) async throws {
        try await TestFarm.with(engine: engine, workers: Self.two) { farm in
            let submitted = try await farm.client.submit(
                request(device: ["shell-basics", "filesystem-checks", "process-checks"], model: "perpackage"))
            #expect(submitted.state == .queued)
            #expect(submitted.tasks?.count == 3)
            let ended = try await farm.waitForEnd(submitted.id)
            #expect(ended.state == .finished, "\(ended.summaryText)")
            #expect(ended.verdict == .pass, "\(ended.summaryText)\n\(farm.logs)")
            #expect(ended.progress == TestrunView.Progress(tasksDone: 3, tasksTotal: 3, packagesDone: 3, packagesTotal: 3))
            let workers = Set((ended.tasks ?? []).compactMap(\.worker))
            #expect(workers == ["e2e/w1", "e2e/w2"], "both workers take tasks")

            let xml = String(decoding: try await farm.client.results(id: submitted.id, format: "xml"), as: UTF8.self)
            for suite in ["shell-basics", "filesystem-checks", "process-checks"] {
                #expect(xml.contains("<suite name=\"\(suite)\""), "merged results hold \(suite)")
            }
            let file = try farm.workspace.write("merged.xml", xml)
            let problems = try await ResultsSchema.problems(in: file)
            #expect(problems == nil, "\(problems ?? "")")
            let junit = String(decoding: try await farm.client.results(id: submitted.id, format: "junit"), as: UTF8.self)
            #expect(junit.contains("<testsuites"))
            #expect(junit.contains("failures=\"0\""))

            let events = try await farm.queuedEvents()
            let types = events.filter { $0.testrunID == submitted.id }.map(\.type)
            #expect(types.first == .testrunRequested)
            #expect(types.last == .testrunFinished)
            #expect(types.filter { $0 == .taskStarted }.count == 3)
            #expect(types.filter { $0 == .packageFinished }.count == 3)
        }
    }

    @Test(arguments: FarmEngine.available)
    func failingAndInsignificantCasesDecideTheVerdict(engine: FarmEngine) async throws {
        try await TestFarm.with(engine: engine, workers: Self.two) { farm in
            let failing = try await farm.client.submit(request(device: ["shell-basics", "failing-case"]))
            let insignificant = try await farm.client.submit(request(device: ["shell-basics", "insignificant-failure"]))
            var counted = request(device: ["insignificant-failure"])
            counted.countInsignificant = true
            let strict = try await farm.client.submit(counted)

            let failed = try await farm.waitForEnd(failing.id)
            #expect(failed.verdict == .fail, "\(failed.summaryText)")
            #expect(failed.error == nil)
            let passed = try await farm.waitForEnd(insignificant.id)
            #expect(passed.verdict == .pass, "an insignificant failure alone passes: \(passed.summaryText)")
            let strictEnd = try await farm.waitForEnd(strict.id)
            #expect(strictEnd.verdict == .fail, "count_insignificant makes it count: \(strictEnd.summaryText)")
        }
    }

    @Test(arguments: FarmEngine.available)
    func flashRetriesThenPassesOrFailsAsDeviceError(engine: FarmEngine) async throws {
        let flaky = TestFarm.WorkerSpec(name: "flaky", devicegroup: "flaky", simulated: "flash_failing_tries = [1]")
        let broken = TestFarm.WorkerSpec(name: "broken", devicegroup: "broken", simulated: "flash_failure_probability = 1")
        try await TestFarm.with(engine: engine, workers: [flaky, broken]) { farm in
            let retried = try await farm.client.submit(request(group: "flaky", device: ["shell-basics"]))
            let failing = try await farm.client.submit(request(group: "broken", device: ["shell-basics"]))

            let passed = try await farm.waitForEnd(retried.id)
            #expect(passed.verdict == .pass, "\(passed.summaryText)")
            #expect(passed.tasks?.first?.flashTries == 2)
            let events = try await farm.queuedEvents().filter { $0.testrunID == retried.id && $0.type == .flashFinished }
            #expect(events.map(\.tryNumber) == [1, 2])
            #expect(events.map(\.outcome) == ["failed", "ok"])

            let errored = try await farm.waitForEnd(failing.id)
            #expect(errored.verdict == .error, "\(errored.summaryText)")
            #expect(errored.error?.category == .device)
            #expect(errored.error?.message.contains("flash failed after 3 tries") == true, "\(errored.error?.message ?? "")")
            #expect(errored.tasks?.first?.flashTries == 3)
        }
    }

    @Test(arguments: FarmEngine.available)
    func killedWorkersTaskIsRequeuedToTheOther(engine: FarmEngine) async throws {
        let hang = HangFile()
        try await TestFarm.with(engine: engine, workers: [hang.worker("w1"), hang.worker("w2")]) { farm in
            let submitted = try await farm.client.submit(request(device: ["hang-on-first-attempt"]))
            let running = try await farm.waitFor(submitted.id, "the first attempt's step to run") { _ in hang.exists(".1") }
            let owner = try #require(running.tasks?.first?.worker)
            let victim = try #require(farm.workers[String(owner.split(separator: "/").last ?? "")])
            victim.kill(SIGKILL)
            victim.process.waitUntilExit()

            let ended = try await farm.waitForEnd(submitted.id)
            #expect(ended.verdict == .pass, "\(ended.summaryText)\n\(farm.logs)")
            let task = try #require(ended.tasks?.first)
            #expect(task.attempts == 2)
            #expect(task.worker != owner, "the other worker finished it")
            let requeued = try await farm.queuedEvents().filter { $0.taskID == task.id && $0.type == .taskRequeued }
            #expect(requeued.count == 1)
        }
    }

    @Test(arguments: FarmEngine.available)
    func noWorkerForTheGroupErrorsAfterTheQueueTimeout(engine: FarmEngine) async throws {
        try await TestFarm.with(engine: engine, serverSettings: ["queue_timeout": "1"], workers: [TestFarm.WorkerSpec(name: "w1")]) {
            farm in
            let submitted = try await farm.client.submit(request(group: "nobody-has-this", device: ["shell-basics"]))
            let ended = try await farm.waitForEnd(submitted.id, timeout: 30)
            #expect(ended.verdict == .error)
            #expect(ended.error?.category == .infrastructure)
            #expect(ended.tasks?.first?.state == .failed)
            #expect(ended.tasks?.first?.error?.message.contains("no worker took the task") == true, "\(ended.summaryText)")
        }
    }

    @Test(arguments: FarmEngine.available)
    func cancelMidRunEndsTheTestrunAndStopsTheWorker(engine: FarmEngine) async throws {
        let hang = HangFile()
        try await TestFarm.with(engine: engine, workers: [hang.worker("w1")]) { farm in
            let submitted = try await farm.client.submit(request(device: ["hang"]))
            _ = try await farm.waitFor(submitted.id, "the step to run") { _ in hang.pid() != nil }
            let pid = try #require(hang.pid())
            #expect(kill(pid, 0) == 0, "the step runs")

            let cancelled = try await farm.client.cancel(id: submitted.id)
            #expect(cancelled.state == .cancelled)
            #expect(cancelled.tasks?.first?.state == .cancelled)

            #expect(try await HangFile.waitUntilGone(pid), "the worker stopped the step\n\(farm.logs)")
            let after = try await farm.client.testrun(id: submitted.id)
            #expect(after.state == .cancelled)
            #expect(after.verdict == nil)

            // The worker is free again: a new testrun runs.
            let next = try await farm.client.submit(request(device: ["shell-basics"]))
            #expect(try await farm.waitForEnd(next.id).verdict == .pass)
        }
    }

    @Test(arguments: FarmEngine.available)
    func badRequestsAreRefusedNamingTheFieldAndStoreNothing(engine: FarmEngine) async throws {
        try await TestFarm.with(engine: engine, workers: []) { farm in
            let cases: [(body: String, field: String)] = [
                (#"{"device": {"devicegroup": "e2e"}, "packages": {}}"#, "packages"),
                (#"{"device": {}, "packages": {"device": ["a"]}}"#, "device.devicegroup"),
                (#"{"packages": {"device": ["a"]}}"#, "device"),
                (
                    #"{"device": {"devicegroup": "e2e"}, "packages": {"device": ["a"]}, "distribution_model": "fastest"}"#,
                    "distribution_model"
                ),
                (#"{"device": {"devicegroup": "e2e"}, "packages": {"device": ["a"]"#, "body"),
                (#"{"device": {"devicegroup": "e2e"}, "packages": {"device": ["../etc"]}}"#, "packages.device[0]"),
                (#"{"device": {"devicegroup": "e2e"}, "packages": {"device": ["a"]}, "timeout": "soon"}"#, "timeout"),
            ]
            for (body, field) in cases {
                do {
                    _ = try await farm.client.submit(json: Array(body.utf8))
                    Issue.record("accepted \(body)")
                } catch let error as ClientError {
                    guard case .rejected(let status, let problem) = error.kind else {
                        Issue.record("\(error)")
                        continue
                    }
                    #expect(status == 400, "\(body)")
                    #expect(problem.field == field, "\(body): \(problem.message)")
                    #expect(problem.message.contains(field), "\(problem.message)")
                }
            }
            #expect(try await farm.client.testruns().testruns.isEmpty, "nothing was stored")
            let events = try await farm.queuedEvents()
            #expect(events.isEmpty)
        }
    }
}
