import Foundation
import OTSClient
import OTSCore
import OTSTestSupport
import Testing

/// The monitor as its own process: decoupled from the farm, every event
/// stored once, liveness from heartbeats.
@Suite(.serialized, .timeLimit(.minutes(10))) struct MonitorTests {
    @Test(arguments: FarmEngine.available)
    func aMonitorStartedLateStoresEveryEventExactlyOnce(engine: FarmEngine) async throws {
        let workers = [TestFarm.WorkerSpec(name: "w1"), TestFarm.WorkerSpec(name: "w2")]
        try await TestFarm.with(engine: engine, workers: workers) { farm in
            // No monitor yet: testruns complete all the same.
            var testruns: [String] = []
            for packages in [["shell-basics", "process-checks"], ["failing-case"], ["filesystem-checks"]] {
                testruns.append(try await farm.client.submit(request(device: packages)).id)
            }
            for id in testruns {
                #expect(try await farm.waitForEnd(id).state == .finished)
            }
            let sent = try await farm.queuedEvents()
            #expect(try await farm.storedEventIDs().isEmpty, "nothing is stored without a monitor")

            let (_, url) = try await farm.startMonitor()
            let wanted = Set(sent.map(\.id))
            var stored: [String] = []
            try await eventually(
                "every event sent is stored", every: .milliseconds(200), detail: "\(wanted.subtracting(stored).count) missing"
            ) {
                stored = try await farm.storedEventIDs()
                return wanted.isSubset(of: Set(stored))
            }
            #expect(wanted.isSubset(of: Set(stored)), "every event sent is stored: \(wanted.subtracting(stored).count) missing")
            #expect(stored.count == Set(stored).count, "none twice")

            let monitor = OTSClient(baseURL: url)
            for id in testruns {
                let events = try await monitor.events(testrun: id)
                #expect(
                    events.map(\.id) == sent.filter { $0.testrunID == id }.map(\.id), "the monitor serves the testrun's events in order")
            }
            let timeline = try await monitor.timeline(testrun: testruns[0])
            let phases = Set(timeline.phases.map(\.phase))
            #expect(phases == ["testrun", "queue", "task", "flash", "boot", "test", "results"], "\(timeline.phases)")
            #expect(timeline.phases.allSatisfy { $0.end != nil }, "every phase of an ended testrun has ended")
            #expect(timeline.phases.filter { $0.phase == "test" }.compactMap(\.detail).sorted() == ["process-checks", "shell-basics"])
            let status = try await monitor.monitorStatus()
            #expect(status.droppedEvents == 0)
        }
    }

    @Test func aWorkerKilledWithoutAWordShowsOfflineAfterItsMissedHeartbeats() async throws {
        try await TestFarm.with(engine: .sqlite, workers: [TestFarm.WorkerSpec(name: "w1"), TestFarm.WorkerSpec(name: "w2")]) { farm in
            let (_, url) = try await farm.startMonitor()
            let monitor = OTSClient(baseURL: url)
            try await eventually("the monitor to list both workers") { try await monitor.workers().workers.count == 2 }
            #expect(try await monitor.workers().workers.map(\.state) == ["free", "free"])

            farm.workers["w1"]?.kill(SIGKILL)
            var states: [String: String] = [:]
            var offline: [MonitorEvent] = []
            try await eventually("w1 to show offline, with its event", within: .seconds(20), detail: "\(states)") {
                states = Dictionary(uniqueKeysWithValues: try await monitor.workers().workers.map { ($0.id, $0.state) })
                offline = try await monitor.events(type: "worker.offline")
                return states["e2e/w1"] == "offline" && !offline.isEmpty
            }
            #expect(states == ["e2e/w1": "offline", "e2e/w2": "free"])
            #expect(offline.count == 1)
            #expect(offline.first?.sender.instance == "w1")
            #expect(offline.first?.details?["reason"] == "missed heartbeats")

            let listed = try await OTSBinary.run(["workers", "--monitor", url], in: farm.workspace.path)
            #expect(listed.stdout.contains("e2e/w1  offline"), "\(listed.stdout)")
            let events = try await OTSBinary.run(["events", "--monitor", url, "--type", "worker.offline"], in: farm.workspace.path)
            #expect(events.stdout.contains("worker.offline  e2e/w1"), "\(events.stdout)")
            #expect(events.stdout.contains("reason=missed heartbeats"))
        }
    }

    @Test(.enabled(if: FarmEngine.available.contains(.postgres), "no PostgreSQL (OTS_TEST_POSTGRES_URL); ./scripts/test.sh starts one"))
    func twoMonitorReplicasNeverHandleAnEventTwice() async throws {
        try await TestFarm.with(engine: .postgres, workers: [TestFarm.WorkerSpec(name: "w1"), TestFarm.WorkerSpec(name: "w2")]) { farm in
            let receiver = try WebhookTests.Receiver(folder: farm.workspace.path, secret: "k")
            try await receiver.waitUntilListening()
            let webhook = """
                [[webhook]]
                name = "lab"
                url = "http://127.0.0.1:\(receiver.port)/ok"
                secret = "k"
                types = ["testrun."]
                """
            let (_, url) = try await farm.startMonitor("monitor-a", settings: webhook)
            _ = try await farm.startMonitor("monitor-b", settings: webhook)
            try await farm.waitForPublishers(["webhook:lab"])
            var testruns: [String] = []
            for _ in 0..<4 {
                testruns.append(try await farm.client.submit(request(device: ["shell-basics", "process-checks"])).id)
            }
            for id in testruns { #expect(try await farm.waitForEnd(id).verdict == .pass) }
            let sent = Set(try await farm.queuedEvents().map(\.id))
            var stored: [String] = []
            try await eventually("every event sent is stored", every: .milliseconds(200)) {
                stored = try await farm.storedEventIDs()
                return sent.isSubset(of: Set(stored))
            }
            #expect(sent.isSubset(of: Set(stored)))
            let history = try await farm.historyCount()
            #expect(history == 8, "one history row per package finished, whichever replica took it")

            // Both replicas publish, taking turns: each event is delivered once.
            var wanted: Set<String> = []
            for id in testruns {
                wanted.formUnion(
                    try await OTSClient(baseURL: url).events(testrun: id).filter { $0.type.rawValue.hasPrefix("testrun.") }.map(\.id))
            }
            var delivered: [String] = []
            try await eventually("every testrun event delivered", every: .milliseconds(200)) {
                delivered = receiver.deliveries.map(\.id)
                return wanted.isSubset(of: Set(delivered))
            }
            #expect(wanted.isSubset(of: Set(delivered)), "every testrun event delivered")
            #expect(delivered.count == Set(delivered).count, "none twice: \(delivered.count) deliveries of \(Set(delivered).count) events")
        }
    }
}

/// Statistics over a known set of testruns.
@Suite(.timeLimit(.minutes(10))) struct StatisticsTests {
    @Test(arguments: FarmEngine.available)
    func statisticsAndCommonErrorsCountAKnownFarm(engine: FarmEngine) async throws {
        let flaky = TestFarm.WorkerSpec(name: "w2", devicegroup: "flaky", simulated: "flash_failing_tries = [1]")
        // Leases long enough that a busy machine cannot make a task run twice: the counts must be exact.
        try await TestFarm.with(engine: engine, serverSettings: ["lease_seconds": "60"], workers: [TestFarm.WorkerSpec(name: "w1"), flaky])
        {
            farm in
            // Liveness is not what this counts: a busy machine must not make
            // a worker look offline.
            let (_, url) = try await farm.startMonitor(settings: "missed_heartbeats = 50\n")
            var ids: [String] = []
            for packages in [["shell-basics"], ["shell-basics"], ["failing-case"], ["missing-1"], ["missing-22"], ["missing-333"]] {
                ids.append(try await farm.client.submit(request(device: packages)).id)
            }
            ids.append(try await farm.client.submit(request(group: "flaky", device: ["shell-basics"])).id)
            for id in ids { _ = try await farm.waitForEnd(id) }
            let monitor = OTSClient(baseURL: url)
            // Wait until the monitor has stored the last testrun's end.
            let stats = try await eventually("the monitor to count the last testrun", every: .milliseconds(200)) {
                let stats = try await monitor.statistics(window: "1h")
                let counted =
                    stats.verdicts.pass + stats.verdicts.fail + stats.verdicts.error >= 7 && stats.errorsByCategory["user"] == 3
                    && stats.phases["test"]?.count == 4
                return counted ? stats : nil
            }
            #expect(stats.testruns.total == 7)
            #expect(stats.testruns.active == 0)
            #expect(stats.verdicts.pass == 3)
            #expect(stats.verdicts.fail == 1)
            #expect(stats.verdicts.error == 3)
            #expect(abs(stats.verdicts.errorRatio - 3.0 / 7.0) < 1e-9)
            #expect(stats.errorsByCategory == ["user": 3, "test": 1], "each failure counted once, where it happened")
            let missing = try #require(stats.commonErrors.first)
            #expect(missing.count == 3, "different numbers and paths, one signature: \(stats.commonErrors)")
            #expect(missing.category == .user)
            #expect(missing.workers == ["e2e/w1"])
            #expect(missing.deviceGroups == ["e2e"])
            #expect(missing.images == ["file:///dev/null"])
            #expect(missing.example.hasPrefix("package missing-"))
            #expect(stats.commonErrors.count == 2)
            #expect(stats.phases["flash"]?.count == 8, "seven flashes, one of them tried twice")
            #expect(stats.phases["test"]?.count == 4, "packages that ran")
            #expect(stats.phases["queue_wait"]?.count == 7)
            #expect(stats.retries["flash"] == Statistics.Retries(phases: 7, retries: 1))
            #expect(stats.retries["boot"] == Statistics.Retries(phases: 7, retries: 0))
            #expect(stats.workers.free + stats.workers.busy == 2)

            let group = try await monitor.statistics(window: "1h", deviceGroup: "flaky")
            #expect(group.testruns.total == 1)
            #expect(group.verdicts.pass == 1)
            #expect(group.retries["flash"] == Statistics.Retries(phases: 1, retries: 1))
            let one = try await monitor.statistics(window: "1h", worker: "e2e/w1")
            #expect(one.testruns.total == 6)
            #expect(one.retries["flash"] == Statistics.Retries(phases: 6, retries: 0))

            let table = try await OTSBinary.run(["stats", "--monitor", url, "--window", "1h"], in: farm.workspace.path)
            #expect(table.status == 0, "\(table.stderr)")
            #expect(table.stdout.contains("ratio     42.9%"), "\(table.stdout)")
            let errors = try await OTSBinary.run(["errors", "--monitor", url, "--window", "1h"], in: farm.workspace.path)
            #expect(errors.stdout.contains("3      user"), "\(errors.stdout)")
            let bad = try await OTSBinary.run(["stats", "--monitor", url, "--window", "soon"], in: farm.workspace.path)
            #expect(bad.status == 3)
            #expect(bad.stderr.contains("window:"), "\(bad.stderr)")

            // Any window: from and until a time, as ISO 8601.
            let now = Date()
            let (since, until) = (now.addingTimeInterval(-3600).formatted(.iso8601), now.addingTimeInterval(60).formatted(.iso8601))
            let ranged = try await monitor.statistics(since: since, until: until)
            #expect(ranged.verdicts == stats.verdicts)
            #expect(ranged.errorsByCategory == stats.errorsByCategory)
            #expect(ranged.phases.mapValues(\.count) == stats.phases.mapValues(\.count))
            let rangedTable = try await OTSBinary.run(
                ["stats", "--monitor", url, "--since", since, "--until", until, "--devicegroup", "flaky"], in: farm.workspace.path)
            #expect(rangedTable.status == 0, "\(rangedTable.stderr)")
            #expect(rangedTable.stdout.contains("from \(since)"), "\(rangedTable.stdout)")

            // The rollups counted again from the stored events say the same.
            let rebuilt = try await OTSBinary.run(
                ["monitor", "--rebuild-rollups", "--database", farm.databaseURL], in: farm.workspace.path)
            #expect(rebuilt.status == 0, "\(rebuilt.stderr)")
            #expect(rebuilt.stderr.contains("(100 %)"), "progress is shown: \(rebuilt.stderr)")
            #expect(rebuilt.stdout.contains("rebuilt the rollups from"), "\(rebuilt.stdout)")
            let again = try await monitor.statistics(window: "1h")
            #expect(again.verdicts == stats.verdicts)
            #expect(again.errorsByCategory == stats.errorsByCategory)
            #expect(again.commonErrors.map(\.count) == stats.commonErrors.map(\.count))
            #expect(again.phases == stats.phases)
            #expect(again.retries == stats.retries)
        }
    }
}
