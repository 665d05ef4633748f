import ArgumentParser
import Foundation
import OTSClient
import OTSCore
import OTSHTTP

#if canImport(Glibc)
    import Glibc
#endif

/// `ots bench idle`: what an idle farm costs. Starts `ots server`, `ots
/// monitor`, `ots worker` with one simulated instance and, beside them, an
/// `ots up` of its own, waits until every instance is online, and then
/// measures each process's CPU time (user + system, all threads, from
/// /proc) over a quiet interval.
struct BenchIdleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "idle",
        abstract: "Measure what an idle farm costs: the CPU time of an idle server, monitor, worker and ots up.",
        discussion: """
            Starts `ots server`, `ots monitor` and `ots worker` (one simulated instance) on a new SQLite file, and an \
            `ots up --workers 1` on a folder of its own, all on loopback; once every instance is online it reads each \
            process's user and system CPU time from /proc/PID/stat, waits --seconds, reads them again, and reports \
            the share of one core each used. Linux only.
            """
    )

    @Option(help: "How long to measure, in seconds.")
    var seconds = 60.0

    @Option(help: "Exit 1 when a process used more than this share of a core, in percent.")
    var limit: Double?

    @Flag(help: "Print the report as JSON.")
    var json = false

    func validate() throws {
        guard seconds > 0 else { throw ValidationError("--seconds must be positive") }
        guard FileManager.default.fileExists(atPath: "/proc/self/stat") else {
            throw ValidationError("ots bench idle reads /proc; it runs on Linux only")
        }
    }

    func run() async throws {
        let folder = FileManager.default.temporaryDirectory.path + "/ots-bench-idle-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder + "/packages", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let url = "sqlite://" + folder + "/ots.sqlite"
        let binary = ownExecutable
        let secret = ["OTS_ENROLLMENT_SECRET": APIToken.randomSecret()]
        let token = try await BenchLoadCommand.adminToken(try parseDatabaseURL(url))

        let server = try LoadProcess.start(
            binary, ["server", "--database", url, "--port", "0"], environment: secret, logs: folder + "/server")
        var processes = [server]
        defer { processes.forEach { $0.stop() } }
        let serverURL = try await server.listeningURL()
        let monitor = try LoadProcess.start(binary, ["monitor", "--database", url, "--port", "0"], logs: folder + "/monitor")
        processes.append(monitor)
        let monitorURL = try await monitor.listeningURL()
        let config = folder + "/worker.toml"
        try """
        server = "\(serverURL)"
        host = "idle"
        spool_dir = "\(folder)/spool"
        work_dir = "\(folder)/work"

        [[instance]]
        name = "sim-1"
        devicegroup = "idle"
        adapter = "simulated"
        packages_dir = "\(folder)/packages"
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let worker = try LoadProcess.start(binary, ["worker", "--config", config], environment: secret, logs: folder + "/worker")
        processes.append(worker)
        let up = try LoadProcess.start(binary, ["up", "--port", "0", "--workers", "1", "--data", folder + "/up"], logs: folder + "/up")
        processes.append(up)
        let upMonitor = try await up.upMonitorURL()

        try await Self.waitUntilOnline(OTSClient(baseURL: monitorURL, token: token), what: "the worker's instance")
        try await Self.waitUntilOnline(OTSClient(baseURL: upMonitor), what: "ots up's simulated instance")

        let measured: [(String, LoadProcess)] = [("server", server), ("monitor", monitor), ("worker", worker), ("ots up", up)]
        let clock = ContinuousClock()
        let before = try measured.map { try ProcessCPU.seconds(of: $0.1.process.processIdentifier) }
        let start = clock.now
        try await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
        let after = try measured.map { try ProcessCPU.seconds(of: $0.1.process.processIdentifier) }
        let elapsed = clock.now - start
        let wall = elapsed / .seconds(1)
        let shares = measured.indices.map { (measured[$0].0, after[$0] - before[$0], (after[$0] - before[$0]) / wall * 100) }

        if json {
            let fields = shares.map {
                #""\#($0.0)":{"cpu_seconds":\#(String(format: "%.2f", $0.1)),"percent":\#(String(format: "%.2f", $0.2))}"#
            }
            print(#"{"seconds":\#(String(format: "%.1f", wall)),\#(fields.joined(separator: ","))}"#)
        } else {
            print(String(format: "idle for %.1f s (one simulated instance each; CPU time from /proc, all threads):", wall))
            for (name, cpu, percent) in shares {
                print(
                    "  " + name.padding(toLength: 8, withPad: " ", startingAt: 0)
                        + String(format: "%7.2f s CPU  %6.2f %% of a core", cpu, percent))
            }
        }
        if let limit, let worst = shares.max(by: { $0.2 < $1.2 }), worst.2 > limit {
            printError("ots bench idle: \(worst.0) used \(String(format: "%.2f", worst.2)) % of a core, over the limit of \(limit) %")
            throw ExitCode(1)
        }
    }

    static func waitUntilOnline(_ monitor: OTSClient, what: String) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if let list = try? await monitor.workers(), list.workers.contains(where: { $0.state != "offline" }) { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw ValidationError("\(what) did not come online within a minute")
    }
}

/// A process's CPU time so far: user and system, all its threads.
enum ProcessCPU {
    static func seconds(of pid: Int32) throws -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else {
            throw ValidationError("process \(pid) is gone (no /proc/\(pid)/stat)")
        }
        // After the name: state (field 3) … utime (14), stime (15).
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else {
            throw ValidationError("cannot read /proc/\(pid)/stat")
        }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}

extension LoadProcess {
    /// The monitor's URL that `ots up` prints once its farm listens.
    func upMonitorURL() async throws -> String {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let text = (try? String(contentsOfFile: logs + ".out", encoding: .utf8)) ?? ""
            if let range = text.range(of: #"dashboard  http://[0-9.]+:\d+"#, options: .regularExpression) {
                return String(text[range].dropFirst("dashboard  ".count))
            }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let errors = (try? String(contentsOfFile: logs + ".err", encoding: .utf8)) ?? ""
        throw ValidationError("ots up did not start: \(errors.suffix(1000))")
    }
}
