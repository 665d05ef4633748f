import ArgumentParser
import Foundation
import Logging
import OTSClient
import OTSCore
import OTSMonitor

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

    func run() async throws {
        let configuration: MonitorConfiguration = try options.configuration(for: "monitor")
        let logger = Logger(label: "ots.monitor")
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

/// Where the CLI finds the monitor.
struct MonitorOptions: ParsableArguments {
    @Option(help: "The OTS monitor's URL (environment: OTS_MONITOR; default http://127.0.0.1:8311).")
    var monitor: String?

    @OptionGroup var credentials: CredentialOptions

    var client: OTSClient {
        get throws { try credentials.client(baseURL: monitor ?? environment("OTS_MONITOR") ?? "http://127.0.0.1:8311") }
    }
}
