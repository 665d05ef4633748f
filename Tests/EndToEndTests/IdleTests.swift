import Foundation
import OTSClient
import OTSCore
import OTSTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// An idle farm costs (nearly) nothing: no loop of the server, the
/// monitor, a worker or `ots up` spins or polls faster than it must.
@Suite(
    .serialized, .enabled(if: FileManager.default.fileExists(atPath: "/proc/self/stat"), "reads CPU time from /proc (Linux)"),
    .timeLimit(.minutes(10)))
struct IdleTests {
    /// The deployed defaults, not the harness's quick intervals.
    static let serverSettings = [
        "lease_seconds": "30", "heartbeat_seconds": "5", "sweep_interval": "1", "claim_wait": "20", "claim_poll": "0.5",
    ]

    @Test func anIdleServerMonitorWorkerAndOtsUpEachUseLittleCPU() async throws {
        var worker = TestFarm.WorkerSpec(name: "idle-1")
        worker.claimWait = 20
        try await TestFarm.with(engine: .sqlite, serverSettings: Self.serverSettings, workers: [worker]) { farm in
            let (monitor, monitorURL) = try await farm.startMonitor(settings: "poll_interval = 0.2\nheartbeat_seconds = 5\n")
            let up = try ChildProcess(
                ["up", "--port", "0", "--workers", "1", "--data", farm.workspace.file("up")], logs: farm.workspace.file("up"))
            defer { up.stop() }

            // Settled: each simulated instance is online, as its monitor tells.
            try await farm.waitForWorkers(1)
            try await Self.waitUntilOnline(OTSClient(baseURL: monitorURL), "the worker's instance, as the monitor sees it")
            let upMonitor = try await Self.upMonitorURL(up)
            try await Self.waitUntilOnline(OTSClient(baseURL: upMonitor), "ots up's simulated instance")

            let processes = [
                ("server", farm.server.pid), ("monitor", monitor.pid), ("worker", try #require(farm.workers["idle-1"]).pid),
                ("ots up", up.pid),
            ]
            // Sampling over a measured interval (not a wait for a condition).
            let start = ContinuousClock.now
            let before = try processes.map { try Self.cpuSeconds($0.1) }
            try await Task.sleep(for: .seconds(5))
            let after = try processes.map { try Self.cpuSeconds($0.1) }
            let elapsed = ContinuousClock.now - start
            let wall = elapsed / .seconds(1)
            for (index, (name, _)) in processes.enumerated() {
                let share = (after[index] - before[index]) / wall
                // Generous for a shared machine: an idle farm measures well
                // under 1 % each (docs/benchmarks.md); a spinning loop ~100 %.
                #expect(
                    share <= 0.10,
                    "idle \(name) used \(String(format: "%.1f", share * 100)) % of a core over \(String(format: "%.1f", wall)) s")
            }
        }
    }

    /// User and system CPU time of a process (all its threads), from /proc.
    static func cpuSeconds(_ pid: Int32) throws -> Double {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        let close = try #require(stat.lastIndex(of: ")"))
        // After the name: state (field 3) … utime (14), stime (15).
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        let user = try #require(Double(fields[11]))
        let system = try #require(Double(fields[12]))
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    static func waitUntilOnline(_ monitor: OTSClient, _ what: String) async throws {
        try await eventually("\(what) online", within: .seconds(60), every: .milliseconds(200)) {
            (try? await monitor.workers())?.workers.contains(where: { $0.state != "offline" }) == true
        }
    }

    static func upMonitorURL(_ up: ChildProcess) async throws -> String {
        try await eventually("ots up to print its URLs", within: .seconds(60), detail: String(up.stderr.suffix(2000))) {
            up.stdout.split(separator: "\n").first(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix("dashboard") })
                .flatMap { $0.split(separator: " ").last }.map { String($0.dropLast()) }
        }
    }
}
