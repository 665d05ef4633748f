import Foundation
import OTSClient
import OTSCore
import Testing

/// The monitor as its own process: decoupled from the farm, every event
/// stored once, liveness from heartbeats.
@Suite(.serialized) struct MonitorTests {
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
                #expect(try await farm.waitForEnd(id).state == "finished")
            }
            let sent = try await farm.queuedEvents()
            #expect(try await farm.storedEventIDs().isEmpty, "nothing is stored without a monitor")

            let (_, url) = try await farm.startMonitor()
            let wanted = Set(sent.map(\.id))
            var stored: [String] = []
            let deadline = Date().addingTimeInterval(30)
            while !wanted.isSubset(of: Set(stored)) && Date() < deadline {
                try await Task.sleep(for: .milliseconds(200))
                stored = try await farm.storedEventIDs()
            }
            #expect(wanted.isSubset(of: Set(stored)), "every event sent is stored: \(wanted.subtracting(stored).count) missing")
            #expect(stored.count == Set(stored).count, "none twice")

            let monitor = OTSClient(baseURL: url)
            for id in testruns {
                let events = try await monitor.events(testrun: id)
                #expect(
                    events.map(\.id) == sent.filter { $0.testrunID == id }.map(\.id), "the monitor serves the testrun's events in order")
            }
            let status = try await monitor.monitorStatus()
            #expect(status.droppedEvents == 0)
        }
    }

    @Test func aWorkerKilledWithoutAWordShowsOfflineAfterItsMissedHeartbeats() async throws {
        try await TestFarm.with(engine: .sqlite, workers: [TestFarm.WorkerSpec(name: "w1"), TestFarm.WorkerSpec(name: "w2")]) { farm in
            let (_, url) = try await farm.startMonitor()
            let monitor = OTSClient(baseURL: url)
            try await Task.sleep(for: .milliseconds(700))
            #expect(try await monitor.workers().workers.map(\.state) == ["free", "free"])

            farm.workers["w1"]?.kill(SIGKILL)
            var states: [String: String] = [:]
            var offline: [MonitorEvent] = []
            let deadline = Date().addingTimeInterval(20)
            while (states["e2e/w1"] != "offline" || offline.isEmpty) && Date() < deadline {
                try await Task.sleep(for: .milliseconds(100))
                states = Dictionary(uniqueKeysWithValues: try await monitor.workers().workers.map { ($0.id, $0.state) })
                offline = try await monitor.events(type: "worker.offline")
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

    @Test func twoMonitorReplicasNeverHandleAnEventTwice() async throws {
        guard FarmEngine.available.contains(.postgres) else { return }
        try await TestFarm.with(engine: .postgres, workers: [TestFarm.WorkerSpec(name: "w1"), TestFarm.WorkerSpec(name: "w2")]) { farm in
            _ = try await farm.startMonitor("monitor-a")
            _ = try await farm.startMonitor("monitor-b")
            var testruns: [String] = []
            for _ in 0..<4 {
                testruns.append(try await farm.client.submit(request(device: ["shell-basics", "process-checks"])).id)
            }
            for id in testruns { #expect(try await farm.waitForEnd(id).verdict == .pass) }
            let sent = Set(try await farm.queuedEvents().map(\.id))
            var stored: [String] = []
            let deadline = Date().addingTimeInterval(30)
            while !sent.isSubset(of: Set(stored)) && Date() < deadline {
                try await Task.sleep(for: .milliseconds(200))
                stored = try await farm.storedEventIDs()
            }
            #expect(sent.isSubset(of: Set(stored)))
            let history = try await farm.historyCount()
            #expect(history == 8, "one history row per package finished, whichever replica took it")
        }
    }
}
