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
            OTS_PORT, OTS_ENROLLMENT_SECRET), then these options. Several servers may share one PostgreSQL database. \
            Requests need API tokens (ots token create) unless auth = "off"; workers enroll with enrollment_secret.
            """
    )

    @OptionGroup var options: ComponentOptions

    func run() async throws {
        let configuration: ServerConfiguration = try options.configuration(for: "server")
        do {
            try configuration.validate()
        } catch {
            printError("ots server: \(error)")
            throw ExitCode(1)
        }
        let logger = Logger(label: "ots.server")
        let host = configuration.host
        let scheme = configuration.tls == nil ? "http" : "https"
        let database = configuration.database
        try await runComponent("server", database: database, unavailableAfter: configuration.dbUnavailableSeconds, logger: logger) {
            store in
            try OTSServer(store: store, configuration: configuration, logger: logger).services { port in
                printLine("ots server listening on \(scheme)://\(host):\(port) (database \(database))")
            }
        }
    }
}
