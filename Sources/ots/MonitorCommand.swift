import ArgumentParser
import Foundation
import Logging
import OTSClient
import OTSCore
import OTSMonitor
import OTSStore

/// `ots monitor`: the monitor process.
struct MonitorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "monitor",
        abstract: "Run the OTS monitor: store every event once, decide worker liveness, answer questions.",
        discussion: """
            Settings come from the defaults, then --config FILE (TOML), then the environment (OTS_DATABASE, \
            OTS_MONITOR_HOST, OTS_MONITOR_PORT), then these options. Replicas on one PostgreSQL database share the \
            work and never handle an event twice. See docs/monitor.md.
            """
    )

    @OptionGroup var options: ComponentOptions
    @Flag(help: "Recompute the statistics' rollups from the stored events, showing progress, then exit (the monitor's API is not served).")
    var rebuildRollups = false
    @Option(help: "With --rebuild-rollups: from the start of the day (UTC) of this time on (ISO 8601); default all stored events.")
    var since: String?

    func validate() throws {
        if since != nil && !rebuildRollups { throw ValidationError("--since goes with --rebuild-rollups") }
        if let since, (try? Date(since, strategy: .iso8601)) == nil {
            throw ValidationError("--since: '\(since.prefix(40))' is not an ISO 8601 time like 2026-12-01T00:00:00Z")
        }
    }

    func run() async throws {
        let configuration: MonitorConfiguration = try options.configuration(for: "monitor")
        let logger = Logger(label: "ots.monitor")
        if rebuildRollups { return try await rebuild(configuration, logger: logger) }
        let host = configuration.host
        let scheme = configuration.tls == nil ? "http" : "https"
        let database = configuration.database
        try await runComponent("monitor", database: database, unavailableAfter: configuration.dbUnavailableSeconds, logger: logger) {
            store in
            try OTSMonitor(store: store, configuration: configuration, logger: logger).services { port in
                printLine("ots monitor listening on \(scheme)://\(host):\(port) (database \(database))")
            }
        }
    }
}

extension MonitorCommand {
    /// `--rebuild-rollups`: the rebuild, with its progress on standard error.
    func rebuild(_ configuration: MonitorConfiguration, logger: Logger) async throws {
        let store: Store
        do {
            store = try await Store.open(
                configuration.database, logger: logger, unavailableAfter: .milliseconds(Int64(configuration.dbUnavailableSeconds * 1000)))
        } catch {
            printError("ots monitor: cannot open the database \(configuration.database): \(error)")
            throw ExitCode(1)
        }
        let from = try since.map { try Date($0, strategy: .iso8601) }
        printError("rebuilding the statistics' rollups\(from.map { " from \($0.formatted(.iso8601.year().month().day())) on" } ?? "")")
        let clock = ContinuousClock()
        let start = clock.now
        do {
            let counted = try await RollupRebuild(store: store, logger: logger).run(since: from) { done, total in
                let percent = total > 0 ? done * 100 / total : 100
                printError("… \(done) of \(total) events (\(percent) %)")
            }
            let seconds = (clock.now - start) / .seconds(1)
            printLine("rebuilt the rollups from \(counted) stored events in \(String(format: "%.1f", seconds)) s")
        } catch {
            await store.close()
            printError(
                "ots monitor: the rebuild stopped: \(error); the monitor goes on where it stopped when it starts (or run this again)")
            throw ExitCode(1)
        }
        await store.close()
    }
}

/// Where the CLI finds the monitor.
struct MonitorOptions: ParsableArguments {
    @Option(help: "The OTS monitor's URL (environment: OTS_MONITOR; default http://127.0.0.1:8311).")
    var monitor: String?

    @OptionGroup var credentials: CredentialOptions

    var client: OTSClient {
        get throws { try credentials.client(baseURL: monitor ?? environment("OTS_MONITOR") ?? "http://127.0.0.1:8311") }
    }
}
