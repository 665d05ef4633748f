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

    @Option(help: "A TOML configuration file (see docs/farm.md).")
    var config: String?

    @Option(help: "The database: sqlite:///path (default ots-data/ots.sqlite) or postgres://user:password@host:port/database.")
    var database: String?

    @Option(help: "The address to listen on (default 127.0.0.1).")
    var host: String?

    @Option(help: "The port to listen on (default 8310; 0 picks a free one and prints it).")
    var port: Int?

    @Option(help: "The token workers must send (Authorization: Bearer TOKEN).")
    var token: String?

    func run() async throws {
        var configuration = ServerConfiguration()
        do {
            if let config { try configuration.load(file: config) }
            try configuration.load(environment: ProcessInfo.processInfo.environment)
        } catch {
            printError("ots server: \(error)")
            throw ExitCode(1)
        }
        if let database { configuration.database = try parseDatabaseURL(database) }
        if let host { configuration.host = host }
        if let port {
            guard (0...65535).contains(port) else { throw ValidationError("--port must be from 0 to 65535") }
            configuration.port = port
        }
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
