import ArgumentParser
import Foundation
import Logging
import OTSCore
import OTSServer

/// `ots server`: the REST API, dispatch, timeouts and verdicts over a store.
struct ServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "server",
        abstract: "Run an OTS server: the REST API that takes testruns and hands their tasks to workers.",
        discussion: """
            Settings come from the defaults, then --config FILE (TOML), then the environment (OTS_DATABASE, OTS_HOST, \
            OTS_PORT, OTS_TOKEN), then these options. Several servers may share one PostgreSQL database.
            """
    )

    @OptionGroup var options: ComponentOptions

    @Option(help: "The token workers must send (Authorization: Bearer TOKEN).")
    var token: String?

    func run() async throws {
        var configuration: ServerConfiguration = try options.configuration(for: "server")
        if let token { configuration.token = token }
        let logger = Logger(label: "ots.server")
        let host = configuration.host
        let database = configuration.database
        try await runComponent("server", database: database, logger: logger) { store in
            OTSServer(store: store, configuration: configuration, logger: logger).services { port in
                printLine("ots server listening on http://\(host):\(port) (database \(database))")
            }
        }
    }
}
