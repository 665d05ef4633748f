import Foundation
import Testing

/// `ots bench load` at a small size: it starts its processes, pushes every
/// task through, and its checks pass (they fail the command otherwise).
@Suite(.timeLimit(.minutes(20))) struct BenchLoadTests {
    @Test func aSmallLoadRunsEveryTaskOnceAndStoresEveryEventOnce() async throws {
        let workspace = try Workspace()
        let result = try await OTSBinary.run(
            ["bench", "load", "--instances", "6", "--worker-processes", "2", "--tasks", "30", "--packages-per-testrun", "5", "--json"],
            in: workspace.path)
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr.suffix(3000))")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(report["tasks"] as? Int == 30)
        #expect(report["problems"] as? Int == 0)
        // 30 tasks × 12 events each, 6 testruns × 4, and the workers' own.
        #expect((report["events"] as? Int ?? 0) >= 30 * 12 + 6 * 4)
        let memory = try #require(report["peak_rss_kb"] as? [String: Int])
        #expect(memory.keys.sorted() == ["monitor", "server", "workers (each)"])
        #expect(memory.values.allSatisfy { $0 > 0 })
    }
}
