import Foundation
import Logging
import NIOHTTP1
import OTSClient
import OTSCore
import OTSStore
import OTSTestSupport
import Subprocess
import SystemPackage
import Testing

/// What a worker token cannot do, tried against a real server over HTTP
/// with a worker instance enrolled by hand: crash the server with a number,
/// tell of work that is not its own, split log lines, or be handed a task
/// after it has gone.
@Suite(.serialized, .timeLimit(.minutes(10))) struct HostileWorkerTests {
    /// A worker instance spoken for by hand, with its own token.
    struct Probe {
        var host: String
        var instance: String
        var token: String
        var client: OTSClient
        var workerID: String { "\(host)/\(instance)" }
        var sender: MonitorEvent.Sender { MonitorEvent.Sender(host: host, instance: instance, pid: 1, version: "0.1.0") }

        /// Sends the events; the HTTP status of the answer.
        func post(_ events: [MonitorEvent]) async -> (status: Int, message: String) {
            do {
                _ = try await client.post(events: events)
                return (200, "")
            } catch {
                return (error.status ?? 0, error.message)
            }
        }

        func event(_ type: EventType, _ task: TaskAssignment, attempt: Int? = nil) -> MonitorEvent {
            MonitorEvent(type: type, sender: sender, testrunID: task.testrunID, taskID: task.taskID, attempt: attempt ?? task.attempt)
        }
    }

    static func enroll(_ farm: TestFarm, host: String = "probe", instance: String, group: String) async throws -> Probe {
        let enrolled = try await SecurityTests.call(
            .POST, farm.baseURL + "/api/v1/workers", token: TestFarm.enrollmentSecret,
            body: #"{"host": "\#(host)", "instance": "\#(instance)", "version": "0.1.0", "pid": 1, "device": {"devicegroup": "\#(group)"}}"#
        )
        try #require(enrolled.status == 201, "\(enrolled.body)")
        let token = try #require(try JSONCoding.decoder().decode(WorkerRegistered.self, from: Data(enrolled.body.utf8)).token)
        return Probe(host: host, instance: instance, token: token, client: OTSClient(baseURL: farm.baseURL, token: token))
    }

    static func submit(_ farm: TestFarm, group: String, packages: [String] = ["shell-basics"], model: String? = nil) async throws
        -> TestrunView
    {
        var testrun = TestrunRequest(device: DeviceProperties(devicegroup: group), packages: .init(device: packages))
        testrun.distributionModel = model
        return try await farm.client.submit(testrun)
    }

    @Test(.timeLimit(.minutes(3)))
    func numbersOutOfRangeAreRefusedAndStoredOnesCannotCrashTheServer() async throws {
        try await TestFarm.with(engine: .sqlite, workers: []) { farm in
            let probe = try await Self.enroll(farm, instance: "n1", group: "hostile")
            _ = try await Self.submit(farm, group: "hostile")
            let task = try #require(try await probe.client.claim(workerID: probe.workerID, wait: 5))

            var flash = probe.event(.flashFinished, task)
            flash.durationMs = .max
            flash.tryNumber = 1
            flash.outcome = "ok"
            let huge = await probe.post([flash])
            #expect(huge.status == 400)
            #expect(huge.message.contains("events[0].duration_ms: must be from 0 to 31536000000"), "\(huge.message)")
            flash.durationMs = -1
            #expect(await probe.post([flash]).status == 400)
            flash.durationMs = 1000
            flash.tryNumber = 0
            #expect(await probe.post([flash]).message.contains("events[0].try: must be from 1 to 1000"))
            flash.tryNumber = 1
            #expect(await probe.post([probe.event(.flashStarted, task, attempt: 1_000_000)]).message.contains("events[0].attempt"))
            var late = probe.event(.flashStarted, task)
            late.emittedAt = Date(timeIntervalSince1970: 1e12)
            #expect(await probe.post([late]).message.contains("events[0].emitted_at: must be from 2000-01-01 to 9999-12-31"))
            let year99999 = try await SecurityTests.call(
                .POST, farm.baseURL + "/api/v1/events", token: probe.token,
                body: String(decoding: try JSONCoding.encoder().encode(EventBatch(events: [flash])), as: UTF8.self)
                    .replacingOccurrences(of: #""emitted_at":"2"#, with: #""emitted_at":"+99999-01-01T00:00:00Z","x":"2"#))
            #expect(year99999.status == 400, "\(year99999.body)")
            #expect(year99999.body.contains("emitted_at"), "\(year99999.body)")
            let wait = try await SecurityTests.call(
                .POST, farm.baseURL + "/api/v1/workers/claim", token: probe.token,
                body: #"{"worker_id": "\#(probe.workerID)", "wait_seconds": 1e300}"#)
            #expect(wait.status == 400)
            #expect(wait.body.contains("wait_seconds: must be from 0 to 3600 seconds"), "\(wait.body)")
            #expect(await probe.post([flash]).status == 200, "a flash within range is accepted")

            // Durations stored before these checks (or by any other way) are
            // summed without trapping: a history plan for the group still works.
            var logger = Logger(label: "ots.e2e")
            logger.logLevel = .warning
            let store = try await Store.open(try DatabaseURL(parsing: farm.databaseURL), logger: logger, migrate: false)
            do {
                try await store.transaction { tx in
                    let records = ["device.flash.finished", "device.boot.finished"].enumerated().map { index, type in
                        EventRecord(
                            id: UUID().uuidString.lowercased(), type: type, emittedAt: Date(), receivedAt: Date(),
                            testrunID: task.testrunID,
                            taskID: task.taskID, worker: probe.workerID, signature: nil, payload: "{}", sequence: Int64(900_000 + index),
                            durationMs: .max, tryNumber: 1, deviceGroup: "hostile")
                    }
                    _ = try await tx.storeNewEvents(records)
                }
            } catch {
                await store.close()
                throw error
            }
            await store.close()
            let planned = try await Self.submit(farm, group: "hostile", model: "history")
            #expect(planned.state == .queued, "\(planned.summaryText)")
            let health = try await SecurityTests.call(.GET, farm.baseURL + "/api/v1/health")
            #expect(health.status == 200, "the server is still up")
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func aWorkerTellsOnlyOfItsOwnWork() async throws {
        try await TestFarm.with(engine: .sqlite, workers: []) { farm in
            let a = try await Self.enroll(farm, instance: "a", group: "own")
            let b = try await Self.enroll(farm, instance: "b", group: "own")
            let first = try await Self.submit(farm, group: "own")
            let task = try #require(try await a.client.claim(workerID: a.workerID, wait: 5))
            #expect(task.testrunID == first.id)
            let second = try await Self.submit(farm, group: "other")

            var finished = a.event(.testrunFinished, task)
            finished.verdict = "PASS"
            let serverType = await a.post([finished])
            #expect(serverType.status == 403)
            #expect(serverType.message.contains("workers do not send 'testrun.finished' events"), "\(serverType.message)")
            #expect(await a.post([a.event(.workerOnline, task)]).status == 403)
            #expect(await a.post([a.event(.taskFinished, task)]).status == 403)

            let notHeld = await b.post([b.event(.taskStarted, task)])
            #expect(notHeld.status == 403)
            #expect(notHeld.message.contains("task \(task.taskID) was never held by probe/b"), "\(notHeld.message)")
            let otherAttempt = await a.post([a.event(.taskStarted, task, attempt: task.attempt + 1)])
            #expect(otherAttempt.status == 409)
            #expect(otherAttempt.message.contains("did not hold attempt \(task.attempt + 1)"), "\(otherAttempt.message)")
            var elsewhere = a.event(.taskStarted, task)
            elsewhere.testrunID = second.id
            #expect(await a.post([elsewhere]).status == 409)
            var noAttempt = a.event(.taskStarted, task)
            noAttempt.attempt = nil
            #expect(await a.post([noAttempt]).status == 400)
            var noTask = a.event(.packageFinished, task)
            noTask.taskID = nil
            #expect(await a.post([noTask]).status == 400)

            // Run times of a package the task does not hold would poison the
            // history of that package.
            var foreign = a.event(.packageFinished, task)
            foreign.package = "someone-elses"
            foreign.durationMs = 99_999_000
            foreign.verdict = "PASS"
            let poisoned = await a.post([foreign])
            #expect(poisoned.status == 403)
            #expect(poisoned.message.contains("'someone-elses' is not a package of task"), "\(poisoned.message)")
            // A refused batch is refused whole: its good events are not kept.
            let good = a.event(.taskStarted, task)
            #expect(await a.post([good, finished]).status == 403)

            // Its own events pass; a signature it sends is not kept.
            var failure = a.event(.failure, task)
            failure.package = "shell-basics"
            failure.error = MonitorEvent.Failure(category: .device, message: "flash failed on port 4711")
            failure.error?.signature = "forged"
            #expect(await a.post([good, failure]).status == 200)
            // The spool's failure is about the instance, not a task.
            var spool = MonitorEvent(type: .failure, sender: a.sender)
            spool.error = MonitorEvent.Failure(category: .infrastructure, message: "cannot write to the spool folder")
            #expect(await a.post([spool]).status == 200)

            let events = try await farm.queuedEvents()
            let stored = try #require(events.first { $0.id == failure.id })
            #expect(stored.error?.signature == ErrorSignature("flash failed on port 4711").text)
            #expect(!events.contains { $0.id == foreign.id || $0.id == finished.id })
            #expect(events.contains { $0.id == good.id }, "the good event was kept when sent on its own")
            let refusals = events.filter { $0.type == .workerRefused }
            #expect(
                Set(refusals.compactMap { $0.details?["reason"] }) == ["type", "task", "attempt", "package"],
                "\(refusals.map { $0.details ?? [:] })")
            #expect(refusals.count == 10, "every refused batch is counted once: \(refusals.map { $0.details?["message"] ?? "" })")
            #expect(refusals.allSatisfy { $0.details?["worker"] == a.workerID || $0.details?["worker"] == b.workerID })
            let untouched = try await farm.client.testrun(id: first.id)
            #expect(untouched.state == .queued || untouched.state == .running, "\(untouched.summaryText)")
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func namesAndIdsCannotSplitLogLines() async throws {
        try await TestFarm.with(engine: .sqlite, workers: []) { farm in
            for host in [#"evil\nFAKE LOG LINE"#, ".", "..", "a b", "tab\\there"] {
                let refused = try await SecurityTests.call(
                    .POST, farm.baseURL + "/api/v1/workers", token: TestFarm.enrollmentSecret,
                    body: #"{"host": "\#(host)", "instance": "i", "version": "0.1.0", "pid": 1, "device": {"devicegroup": "x"}}"#)
                #expect(refused.status == 400, "host \(host): \(refused.body)")
                #expect(refused.body.contains(#""field":"host""#), "\(refused.body)")
            }
            let instance = try await SecurityTests.call(
                .POST, farm.baseURL + "/api/v1/workers", token: TestFarm.enrollmentSecret,
                body:
                    #"{"host": "fine.lab.example", "instance": "i\r\nFAKE", "version": "0.1.0", "pid": 1, "device": {"devicegroup": "x"}}"#)
            #expect(instance.status == 400)

            let probe = try await Self.enroll(farm, host: "fine.lab.example", instance: "i1", group: "logs")
            _ = try await Self.submit(farm, group: "logs")
            let task = try #require(try await probe.client.claim(workerID: probe.workerID, wait: 5))
            var badID = probe.event(.taskStarted, task)
            badID.id = "a\r\nFAKE LOG LINE"
            #expect(await probe.post([badID]).message.contains("events[0].id: must be a UUID"))
            let badType = probe.event(EventType(rawValue: "test.case.finished\nFAKE LOG LINE"), task)
            #expect(await probe.post([badType]).status == 400)
            // A refusal is logged with the value it names, escaped.
            var injected = probe.event(.packageStarted, task)
            injected.package = "p\nFAKE LOG LINE"
            #expect(await probe.post([injected]).status == 403)
            try await eventually("the server logs the refusal", within: .seconds(20), every: .milliseconds(250)) {
                farm.server.stderr.contains("refused events")
            }
            let lines = farm.server.stderr.split(separator: "\n")
            #expect(!lines.contains { $0.hasPrefix("FAKE LOG LINE") }, "\(farm.server.stderr.suffix(2000))")
            #expect(farm.server.stderr.contains(#"'p\nFAKE LOG LINE'"#), "\(farm.server.stderr.suffix(2000))")
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func aClaimWhoseWorkerWentIsNotGranted() async throws {
        try await TestFarm.with(engine: .sqlite, serverSettings: ["claim_wait": "30"], workers: []) { farm in
            let gone = try await Self.enroll(farm, instance: "gone", group: "claims")
            let live = try await Self.enroll(farm, instance: "live", group: "claims")
            // A worker waits for work, and is killed while it waits.
            let claim = try farm.workspace.write("claim.json", #"{"worker_id": "\#(gone.workerID)", "wait_seconds": 30}"#)
            let curl = try ChildProcess(
                [
                    "-s", "-X", "POST", "-H", "Authorization: Bearer \(gone.token)", "-H", "Content-Type: application/json",
                    "--data-binary", "@" + claim, farm.baseURL + "/api/v1/workers/claim",
                ], executable: "/usr/bin/curl", logs: farm.workspace.file("curl"))
            try await eventually("the claim waits", within: .seconds(20), every: .milliseconds(250)) {
                try await Self.workerState(farm, gone.workerID) == "free"
            }
            curl.kill(SIGKILL)
            try await eventually("the server sees the claim's connection close", within: .seconds(20), every: .milliseconds(250)) {
                farm.server.stderr.contains("worker \(gone.workerID) stopped waiting for a task (its connection closed)")
            }
            let testrun = try await Self.submit(farm, group: "claims")
            let task = try #require(try await live.client.claim(workerID: live.workerID, wait: 10), "the live worker gets the task")
            #expect(task.testrunID == testrun.id)
            #expect(task.attempt == 1, "the gone worker's claim took no attempt")
            let events = try await farm.queuedEvents()
            #expect(!events.contains { $0.type == .taskClaimed && $0.details?["worker"] == gone.workerID })
        }
    }

    static func workerState(_ farm: TestFarm, _ workerID: String) async throws -> String? {
        var logger = Logger(label: "ots.e2e")
        logger.logLevel = .warning
        let store = try await Store.open(try DatabaseURL(parsing: farm.databaseURL), logger: logger, migrate: false)
        let state = try? await store.transaction { tx in try await tx.worker(id: workerID)?.state }
        await store.close()
        return state ?? nil
    }
}
