import Foundation
import OTSCore
import OTSTestSupport
import Testing

/// What the farm hears of its workers: heartbeats while idle and busy,
/// sent in the instance's name, and a clean shutdown announced.
@Suite(.timeLimit(.minutes(10))) struct WorkerEventsTests {
    @Test func heartbeatsCarryTheInstanceAndACleanShutdownIsAnnounced() async throws {
        try await TestFarm.with(engine: .sqlite, workers: [TestFarm.WorkerSpec(name: "w1")]) { farm in
            let worker = try #require(farm.workers["w1"])
            var beats: [MonitorEvent] = []
            try await eventually("two heartbeats of the idle worker", within: .seconds(20), every: .milliseconds(200), detail: farm.logs) {
                beats = try await farm.queuedEvents().filter { $0.type == .workerHeartbeat }
                return beats.count >= 2
            }
            let beat = try #require(beats.first, "an idle worker heartbeats\n\(farm.logs)")
            #expect(beat.sender.host == "e2e")
            #expect(beat.sender.instance == "w1")
            #expect(beat.sender.pid == worker.pid, "the sender is the worker's process, not the server")
            #expect(beat.details?["state"] == "free")
            #expect(beat.details?["queued"] == "0")

            worker.stop()
            #expect(worker.process.terminationStatus == 0, "a clean shutdown exits 0: \(worker.stderr.suffix(500))")
            let offline = try await farm.queuedEvents().filter { $0.type == .workerOffline }
            #expect(offline.count == 1)
            #expect(offline.first?.sender.instance == "w1")
            #expect(offline.first?.details?["reason"] == "announced")
        }
    }
}
