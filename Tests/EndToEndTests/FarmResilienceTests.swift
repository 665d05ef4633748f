import Foundation
import NIOHTTP1
import OTSClient
import OTSCore
import OTSTestSupport
import Testing

/// The farm when things go wrong: the server away, a worker restarted,
/// timeouts, lost workers; and the features around a testrun (fetched
/// files, definitions by URL, several servers, tokens).
@Suite(.serialized, .timeLimit(.minutes(10))) struct FarmResilienceTests {
    @Test(arguments: FarmEngine.available)
    func whileTheServerIsAwayTheSpoolKeepsEverythingAcrossAWorkerRestart(engine: FarmEngine) async throws {
        let gate = FileManager.default.temporaryDirectory.path + "/ots-gate-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: gate) }
        var worker = TestFarm.WorkerSpec(name: "w1")
        worker.environment = ["OTS_GATE": gate]
        // A lease longer than the outage: the task stays with its worker.
        try await TestFarm.with(engine: engine, serverSettings: ["lease_seconds": "120"], workers: [worker]) { farm in
            let submitted = try await farm.client.submit(request(device: ["gated", "shell-basics"], model: "single"))
            _ = try await farm.waitFor(submitted.id, "the gated step to run") { $0.tasks?.first?.phase == "test" }
            farm.server.kill(SIGKILL)
            farm.server.process.waitUntilExit()

            FileManager.default.createFile(atPath: gate, contents: nil)
            // The worker finishes both packages; what it reports waits on disk.
            try await eventually("the task's end waits in the spool", detail: farm.logs) { farm.spooledFinish("w1") }
            let waiting = farm.spooled("w1")
            #expect(waiting >= 4, "events, two results and the finish wait")
            try farm.restartWorker("w1")
            try await eventually("the restarted worker to find the server away", detail: farm.logs) {
                let log = farm.workers["w1"]?.stderr ?? ""
                return log.contains("messages wait in the spool") || log.contains("cannot register")
            }

            try await farm.restartServer()
            let ended = try await farm.waitForEnd(submitted.id)
            #expect(ended.verdict == .pass, "\(ended.summaryText)\n\(farm.logs)")
            #expect(ended.tasks?.first?.attempts == 1, "the first attempt's results arrived")
            // The worker removes the finish from its spool once the server
            // has answered, which may be just after the testrun has ended.
            try await eventually("the spool empties", within: .seconds(10), every: .milliseconds(50), detail: farm.logs) {
                farm.spooled("w1") == 0
            }
            let xml = String(decoding: try await farm.client.results(id: submitted.id, format: "xml"), as: UTF8.self)
            #expect(xml.contains("waits-for-the-gate"))
            #expect(xml.contains("<suite name=\"shell-basics\""))
            let events = try await farm.queuedEvents().filter { $0.testrunID == submitted.id }
            #expect(events.filter { $0.type == .packageFinished }.count == 2)
            #expect(Set(events.map(\.id)).count == events.count, "no event arrived twice")
        }
    }

    @Test(arguments: FarmEngine.available)
    func aTaskRunningTooLongErrorsAndItsStepIsStopped(engine: FarmEngine) async throws {
        let hang = HangFile()
        try await TestFarm.with(engine: engine, serverSettings: ["execution_timeout": "2"], workers: [hang.worker("w1")]) { farm in
            let submitted = try await farm.client.submit(request(device: ["hang"]))
            let ended = try await farm.waitForEnd(submitted.id, timeout: 30)
            #expect(ended.verdict == .error)
            #expect(ended.error?.category == .infrastructure)
            #expect(ended.error?.message.contains("ran longer than its 2 s") == true, "\(ended.summaryText)")
            let pid = try #require(hang.pid())
            #expect(try await HangFile.waitUntilGone(pid), "the worker stopped the step")
        }
    }

    @Test(arguments: FarmEngine.available)
    func aTestrunPastItsTimeoutErrors(engine: FarmEngine) async throws {
        let hang = HangFile()
        try await TestFarm.with(engine: engine, workers: [hang.worker("w1")]) { farm in
            var timed = request(device: ["hang"])
            timed.timeout = 2
            let submitted = try await farm.client.submit(timed)
            let ended = try await farm.waitForEnd(submitted.id, timeout: 30)
            #expect(ended.state == .finished)
            #expect(ended.verdict == .error)
            #expect(ended.error?.category == .infrastructure)
            #expect(ended.error?.message == "the testrun timed out after 2 s")
            #expect(ended.tasks?.first?.state == .cancelled)
        }
    }

    @Test(arguments: FarmEngine.available)
    func aLostWorkerErrorsWhenNoRequeueIsLeft(engine: FarmEngine) async throws {
        let hang = HangFile()
        try await TestFarm.with(engine: engine, serverSettings: ["requeues": "0"], workers: [hang.worker("w1")]) { farm in
            let submitted = try await farm.client.submit(request(device: ["hang"]))
            _ = try await farm.waitFor(submitted.id, "the step to run") { _ in hang.exists() }
            farm.workers["w1"]?.kill(SIGKILL)
            let ended = try await farm.waitForEnd(submitted.id, timeout: 30)
            #expect(ended.verdict == .error)
            #expect(ended.error?.category == .infrastructure)
            #expect(ended.error?.message.contains("e2e/w1 stopped answering") == true, "\(ended.summaryText)")
        }
    }

    @Test(arguments: FarmEngine.available)
    func fetchedFilesAndDefinitionsByURLReachTheTestrun(engine: FarmEngine) async throws {
        try await TestFarm.with(engine: engine, workers: [TestFarm.WorkerSpec(name: "w1")]) { farm in
            var withURL = request(device: ["collect-file"])
            let definition = OTSBinary.repositoryRoot + "/examples/packages/shell-basics/tests.xml"
            withURL.testDefinitions = ["file://" + definition]
            let submitted = try await farm.client.submit(withURL)
            let ended = try await farm.waitForEnd(submitted.id)
            #expect(ended.verdict == .pass, "\(ended.summaryText)\n\(farm.logs)")
            #expect(ended.progress.packagesTotal == 2)

            let list = try await farm.client.send(.GET, "testruns/\(submitted.id)/files").body
            let files = try JSONSerialization.jsonObject(with: list) as? [String: [[String: Any]]]
            let file = try #require(files?["files"]?.first)
            #expect(file["name"] as? String == "ots-e2e-report.txt")
            #expect(file["package"] as? String == "collect-file")
            let task = try #require(file["task"] as? String)
            let content = try await farm.client.send(
                .GET, "testruns/\(submitted.id)/files/content",
                query: [("task", task), ("package", "collect-file"), ("name", "ots-e2e-report.txt")]
            ).body
            #expect(String(decoding: content, as: UTF8.self) == "report of \(task)\n")
            let xml = String(decoding: try await farm.client.results(id: submitted.id, format: "xml"), as: UTF8.self)
            #expect(xml.contains("<suite name=\"shell-basics\""), "the definition given by URL ran")
        }
    }

    @Test func anImageThatDoesNotMatchItsChecksumIsTheImagesFault() async throws {
        try await TestFarm.with(engine: .sqlite, workers: [TestFarm.WorkerSpec(name: "w1")]) { farm in
            let image = try farm.workspace.write("image.bin", "not the image you asked for")
            var wrong = request(device: ["shell-basics"])
            wrong.image = "file://" + image
            wrong.imageChecksum = "sha256:" + String(repeating: "0", count: 64)
            let submitted = try await farm.client.submit(wrong)
            let ended = try await farm.waitForEnd(submitted.id)
            #expect(ended.verdict == .error)
            #expect(ended.error?.category == .image)
            #expect(ended.error?.message.contains("does not match its checksum") == true, "\(ended.summaryText)")
            #expect(ended.tasks?.first?.flashTries == 0, "nothing is flashed")
        }
    }

    @Test(.enabled(if: FarmEngine.available.contains(.postgres), "no PostgreSQL (OTS_TEST_POSTGRES_URL); ./scripts/test.sh starts one"))
    func twoServersShareOnePostgreSQL() async throws {
        try await TestFarm.with(engine: .postgres, workers: []) { farm in
            let other = try await farm.startAnotherServer()
            var worker = TestFarm.WorkerSpec(name: "w1")
            worker.server = other
            try farm.startWorker(worker)
            let submitted = try await farm.client.submit(request(device: ["shell-basics", "process-checks"]))
            let ended = try await OTSClient(baseURL: other, token: farm.token).testrun(id: submitted.id)
            #expect(ended.id == submitted.id, "the other server sees the testrun")
            let done = try await farm.waitForEnd(submitted.id)
            #expect(done.verdict == .pass, "a worker of the other server ran it: \(done.summaryText)")
            #expect(Set((done.tasks ?? []).compactMap(\.worker)) == ["e2e/w1"])
        }
    }

    @Test func workersWithoutTheEnrollmentSecretAreRefused() async throws {
        let good = TestFarm.WorkerSpec(name: "good")
        var bad = TestFarm.WorkerSpec(name: "bad")
        bad.enrollmentSecret = "wrong-secret-of-some-length"
        try await TestFarm.with(engine: .sqlite, workers: [good, bad]) { farm in
            let submitted = try await farm.client.submit(request(device: ["shell-basics"]))
            #expect(try await farm.waitForEnd(submitted.id).verdict == .pass)
            let refused = try #require(farm.workers["bad"])
            try await eventually("a worker with a wrong secret stops", within: .seconds(20)) { !refused.process.isRunning }
            #expect(refused.process.terminationStatus == 1)
            #expect(refused.stderr.contains("authorization: wrong enrollment secret"), "\(refused.stderr)")
        }
    }
}

extension TestFarm {
    /// Whether a worker's spool holds the end of a task.
    func spooledFinish(_ name: String) -> Bool {
        let folder = workspace.file("spool-\(name)")
        return ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).contains { file in
            file.hasSuffix(".json")
                && ((try? String(contentsOfFile: folder + "/" + file, encoding: .utf8))?.contains("\"finish\"") ?? false)
        }
    }
}
