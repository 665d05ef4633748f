import Foundation
import OTSClient
import OTSCore
import Testing

/// `ots events --follow` reads the monitor's live stream, and a monitor
/// that goes away and comes back costs it no event and repeats none.
@Suite struct EventsFollowTests {
    /// Waits for `condition`, at most `timeout` seconds.
    static func waitUntil(_ what: String, timeout: Double = 60, _ condition: () -> Bool) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while !condition() {
            guard Date() < deadline else { throw TestFarm.FarmError("timed out waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// The events a follower printed, one JSON object a line.
    static func printed(_ follower: ChildProcess) -> [MonitorEvent] {
        follower.stdout.split(separator: "\n").compactMap { try? JSONCoding.decoder().decode(MonitorEvent.self, from: Data($0.utf8)) }
    }

    @Test func followingResumesAfterTheMonitorRestartsWithEveryEventOnceInOrder() async throws {
        let gate = FileManager.default.temporaryDirectory.path + "/ots-gate-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: gate) }
        var worker = TestFarm.WorkerSpec(name: "w1")
        worker.environment = ["OTS_GATE": gate]
        try await TestFarm.with(engine: .sqlite, workers: [worker]) { farm in
            let (monitor, monitorURL) = try await farm.startMonitor()
            let port = try #require(URLComponents(string: monitorURL)?.port)
            let submitted = try await farm.client.submit(request(device: ["gated"]))
            let follower = try ChildProcess(
                ["events", "--follow", "--json", "--testrun", submitted.id, "--monitor", monitorURL], logs: farm.workspace.file("follow"))
            defer { follower.stop() }

            // The testrun waits at its gate: the follower has its first events.
            try await Self.waitUntil("the follower to print the task's start") {
                Self.printed(follower).contains { $0.type == .taskStarted }
            }
            #expect(Self.printed(follower).first?.type == .testrunRequested, "from the first stored event: \(follower.stderr)")

            // The monitor goes away; the testrun goes on and ends meanwhile.
            monitor.stop()
            FileManager.default.createFile(atPath: gate, contents: nil)
            let end = try await farm.waitForEnd(submitted.id)
            #expect(end.verdict == .pass, "\(end.summaryText)")
            try await Self.waitUntil("the follower to notice") { follower.stderr.contains("resuming") }
            let before = Self.printed(follower).count
            #expect(!Self.printed(follower).contains { $0.type == .testrunFinished }, "nothing was read while the monitor was away")

            // It comes back on the same port: the follower resumes where it stopped.
            let (restarted, _) = try await farm.startMonitor("monitor-again", port: port)
            defer { restarted.stop() }
            try await Self.waitUntil("the follower to print the verdict") {
                Self.printed(follower).contains { $0.type == .testrunFinished }
            }
            #expect(follower.process.isRunning, "it keeps following: \(follower.stderr)")
            let printed = Self.printed(follower)
            #expect(printed.count > before)
            #expect(Set(printed.map(\.id)).count == printed.count, "none twice")
            let stored = try await OTSClient(baseURL: monitorURL).events(testrun: submitted.id)
            #expect(printed.map(\.id) == stored.map(\.id), "every event of the testrun, in the monitor's order")
            #expect(follower.stderr.components(separatedBy: "resuming").count == 2, "the drop is told once: \(follower.stderr)")
        }
    }

    @Test func aMonitorThatRefusesTheReaderEndsFollowingWithItsReason() async throws {
        try await TestFarm.with(engine: .sqlite, workers: []) { farm in
            let (_, monitorURL) = try await farm.startMonitor(settings: "anonymous_read = false\n")
            let result = try await OTSBinary.run(
                ["events", "--follow", "--monitor", monitorURL], in: farm.workspace.path, environment: ["OTS_TOKEN": ""])
            #expect(result.status != 0)
            #expect(result.stderr.contains("ots events: the monitor refused GET /api/v1/events/stream"), "\(result.stderr)")
            #expect(!result.stderr.contains("resuming"), "a refusal is not retried: \(result.stderr)")
        }
    }
}
