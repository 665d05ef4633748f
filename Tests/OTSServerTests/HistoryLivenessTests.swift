import Distribution
import Foundation
import OTSCore
import OTSStore
import Testing

@testable import OTSServer

/// The history model plans for the workers alive by the liveness rule the
/// monitor uses: `missed_heartbeats` × `heartbeat_seconds`, with no floor.
@Suite struct HistoryLivenessTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    /// Workers last heard from 2, 4 and 8 s before `start`: how many the
    /// history model counts available.
    func available(heartbeat: Double, missed: Int?) async throws -> Int {
        var count = 0
        try await FarmLogicTests.withFarm({
            $0.heartbeatSeconds = heartbeat
            if let missed { $0.missedHeartbeats = missed }
        }) { farm in
            for (name, age) in [("w2", 2.0), ("w4", 4), ("w8", 8)] {
                _ = try await FarmLogicTests.register(farm, name, at: start.addingTimeInterval(-age))
            }
            let request = DistributionRequest(packages: [], device: DeviceProperties(devicegroup: "g"))
            count = try await Farm.historyInputs(for: request, store: farm.store, configuration: farm.configuration, at: start)
                .availableWorkers
        }
        return count
    }

    @Test(
        arguments: [
            // The defaults: 3 × 5 s, as before.
            (5.0, nil, 3),
            // Heartbeats of 1 s: silent for 3 s is offline (the old rule's 5 s floor counted w4).
            (1.0, 3, 1),
            // A farm that tolerates 10 missed heartbeats (the old rule's 3 did not count w4 and w8).
            (1.0, 10, 3),
            (2.0, 3, 2),
        ] as [(Double, Int?, Int)])
    func workersAliveByTheMonitorsRule(heartbeat: Double, missed: Int?, expected: Int) async throws {
        #expect(try await available(heartbeat: heartbeat, missed: missed) == expected)
        let rule = LivenessRule(heartbeatSeconds: heartbeat, missedHeartbeats: missed ?? LivenessRule.defaultMissedHeartbeats)
        let alive = [2.0, 4, 8].filter { rule.isAlive(lastHeartbeat: start.addingTimeInterval(-$0), at: start) }.count
        #expect(alive == expected, "the monitor's rule agrees")
    }

    @Test func theServerReadsMissedHeartbeatsFromItsFile() throws {
        let path = FileManager.default.temporaryDirectory.path + "/ots-server-\(UUID().uuidString).toml"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "heartbeat_seconds = 2\nmissed_heartbeats = 4\n".write(toFile: path, atomically: true, encoding: .utf8)
        var configuration = ServerConfiguration()
        #expect(configuration.liveness == LivenessRule())
        try configuration.load(file: path)
        #expect(configuration.liveness == LivenessRule(heartbeatSeconds: 2, missedHeartbeats: 4))
        #expect(configuration.liveness.offlineAfter == 8)
        try "missed_heartbeats = 0\n".write(toFile: path, atomically: true, encoding: .utf8)
        let error = #expect(throws: ConfigurationError.self) { try configuration.load(file: path) }
        #expect(
            error?.description.contains("missed_heartbeats: must be from 1 to 1000") == true, "\(error.map(String.init(describing:)) ?? "")"
        )
    }
}
