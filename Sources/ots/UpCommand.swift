import ArgumentParser
import Foundation
import Logging
import OTSClient
import OTSCore
import ServiceLifecycle

/// The options `ots up` and `ots demo` share.
struct EmbeddedFarmOptions: ParsableArguments {
    @Option(help: "How many simulated worker instances (device group demo).")
    var workers = 4

    @Option(help: "The folder for the database, the packages and the workers' spool; a second run resumes from it.")
    var data = "ots-data"

    @Option(help: "The address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "The server's port; the monitor and dashboard take the next one. 0 picks free ports.")
    var port = 8310

    @Option(help: "The monitor's port (default: the server's plus one, or a free one with --port 0).")
    var monitorPort: Int?

    func validate() throws {
        guard (1...1000).contains(workers) else { throw ValidationError("--workers must be from 1 to 1000") }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be from 0 to 65535") }
        if let monitorPort, !(0...65535).contains(monitorPort) {
            throw ValidationError("--monitor-port must be from 0 to 65535")
        }
        if port == 65535 && monitorPort == nil { throw ValidationError("--port 65535 leaves no port for the monitor; give --monitor-port") }
    }

    func farm() -> EmbeddedFarm {
        // The components log warnings and errors only, so the console shows
        // what the command prints; OTS_LOG_LEVEL asks for more.
        var logger = Logger(label: "ots.up")
        if ProcessInfo.processInfo.environment["OTS_LOG_LEVEL"] == nil { logger.logLevel = .warning }
        let absolute = data.hasPrefix("/") ? data : FileManager.default.currentDirectoryPath + "/" + data
        return EmbeddedFarm(
            data: (absolute as NSString).standardizingPath, workers: workers, host: host, serverPort: port,
            monitorPort: monitorPort ?? (port == 0 ? 0 : port + 1), logger: logger)
    }
}

/// `ots up`: the whole farm on this machine, in one command.
struct UpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Run the whole farm on this machine: a server, a monitor and simulated workers over one SQLite file.",
        discussion: """
            Everything lives in the data folder (default ./ots-data): the database, the packages the simulated \
            devices run (the demo's are put there; add your own as PACKAGE/tests.xml) and the workers' spool. \
            Ctrl-C stops it all cleanly; running it again on the same folder resumes with all history.
            """
    )

    @OptionGroup var options: EmbeddedFarmOptions

    func run() async throws {
        let farm = options.farm()
        try await farm.run { endpoints in
            printLine(
                """
                OTS is up: \(farm.workers) simulated worker(s) of device group \(EmbeddedFarm.deviceGroup), data in \(farm.data)
                  API        \(endpoints.api)
                  dashboard  \(endpoints.dashboard)
                  token      \(farm.tokenFile) (reading is open; submitting and cancelling need it)
                  try        OTS_TOKEN=$(cat \(farm.tokenFile)) ots submit --server \(endpoints.server) -f examples/request.json --watch
                Ctrl-C stops the farm.
                """)
            try? await gracefulShutdown()
        }
        printLine("OTS is down")
    }
}

/// `ots demo`: the embedded farm, one example testrun followed live, its
/// verdict and the statistics.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Start the farm on this machine, run the example testrun live, then show the verdict and statistics.",
        discussion: """
            The farm stays up for the dashboard until Ctrl-C; --exit stops it when the testrun ends, and the exit \
            code is then the verdict's: 0 PASS, 1 FAIL, 2 ERROR, 3 when the demo could not run.
            """
    )

    @OptionGroup var options: EmbeddedFarmOptions

    @Flag(help: "Stop the farm once the testrun has ended.")
    var exit = false

    func run() async throws {
        let farm = options.farm()
        let outcome = Outcome()
        let stayUp = !exit
        try await farm.run { endpoints in
            let code = await Self.session(endpoints, farm: farm)
            await outcome.set(code)
            guard stayUp else { return }
            printLine("The farm stays up for the dashboard: \(endpoints.dashboard). Ctrl-C stops it.")
            try? await gracefulShutdown()
        }
        let code = await outcome.code
        guard code == 0 else { throw ExitCode(code) }
    }

    actor Outcome {
        var code: Int32 = FarmExit.unusable
        func set(_ code: Int32) { self.code = code }
    }

    /// Submits the example, follows it, prints the verdict and the
    /// statistics; the exit code to end with.
    static func session(_ endpoints: EmbeddedFarm.Endpoints, farm: EmbeddedFarm) async -> Int32 {
        printLine("OTS demo: a server, a monitor and \(farm.workers) simulated workers, data in \(farm.data)")
        printLine("  API        \(endpoints.api)")
        printLine("  dashboard  \(endpoints.dashboard)")
        let server = OTSClient(baseURL: endpoints.server, token: endpoints.token)
        let monitor = OTSClient(baseURL: endpoints.monitor)
        let final: TestrunView
        do {
            let request = try Demo.request()
            let view = try await server.submit(request)
            printLine("")
            printLine(
                "testrun \(view.id): \(request.packages.device.count) packages on device group \(request.device.devicegroup), "
                    + "split \(request.distributionModel ?? "perpackage")")
            final = try await Watcher(client: server, quiet: false).follow(view)
        } catch {
            printError("ots demo: \(error)")
            return FarmExit.unusable
        }
        printLine("verdict: \(final.verdict?.rawValue ?? final.state.rawValue)  (\(final.summaryLine))")
        printLine("")
        do {
            let statistics = try await countedStatistics(monitor, testrun: final.id)
            summary(statistics, monitor: endpoints.monitor).forEach { printLine($0) }
        } catch {
            printError("ots demo: no statistics from the monitor: \(error)")
        }
        printLine("results:    ots results --server \(endpoints.server) \(final.id)")
        printLine("dashboard:  \(endpoints.dashboard)")
        return FarmExit.code(for: final)
    }

    /// The statistics in a few lines.
    static func summary(_ stats: Statistics, monitor: String) -> [String] {
        let verdicts = stats.verdicts
        let phases = ["queue_wait", "flash", "boot", "test"].compactMap { name -> String? in
            guard let median = stats.phases[name]?.median else { return nil }
            return "\(name.replacingOccurrences(of: "_", with: " ")) \(DurationText.seconds(median))"
        }
        let errors = stats.commonErrors.prefix(3).map { "\($0.count)× \($0.example.prefix(60))" }
        return [
            "statistics (the monitor, last 24h):",
            "  testruns   \(stats.testruns.total) (active \(stats.testruns.active), queued \(stats.testruns.queued))",
            "  verdicts   PASS \(verdicts.pass) (\(StatsCommand.percent(verdicts.passRatio))), FAIL \(verdicts.fail), ERROR \(verdicts.error)",
            "  phases     median " + (phases.isEmpty ? "-" : phases.joined(separator: ", ")),
            "  errors     " + (errors.isEmpty ? "none" : errors.joined(separator: "; ")),
            "  more       ots stats --monitor \(monitor)",
        ]
    }

    /// The monitor's statistics once it has stored the testrun's end (it
    /// consumes the queue a little behind the server).
    static func countedStatistics(_ monitor: OTSClient, testrun: String) async throws -> Statistics {
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            let finished = try await monitor.events(testrun: testrun, type: EventType.testrunFinished.rawValue, limit: 1)
            if !finished.isEmpty || ContinuousClock.now > deadline {
                return try await monitor.statistics(window: "24h")
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }
}
