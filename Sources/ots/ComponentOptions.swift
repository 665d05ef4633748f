import ArgumentParser
import Foundation
import OTSBench
import OTSCore
import OTSMonitor
import OTSServer
import OTSStore

/// The configuration of a component that listens: read from a file, the
/// environment, then options.
protocol ListeningConfiguration {
    init()
    var database: DatabaseURL { get set }
    var host: String { get set }
    var port: Int { get set }
    mutating func load(file path: String) throws(ConfigurationError)
    mutating func load(environment: [String: String]) throws(ConfigurationError)
}

extension ServerConfiguration: ListeningConfiguration {}
extension MonitorConfiguration: ListeningConfiguration {}

/// The options of `ots server` and `ots monitor`.
struct ComponentOptions: ParsableArguments {
    @Option(help: "A TOML configuration file (see docs/farm.md and docs/monitor.md).")
    var config: String?

    @Option(help: "The database: sqlite:///path (default ots-data/ots.sqlite) or postgres://user:password@host:port/database.")
    var database: String?

    @Option(help: "The address to listen on (default 127.0.0.1).")
    var host: String?

    @Option(help: "The port to listen on (default 8310 for the server, 8311 for the monitor; 0 picks a free one and prints it).")
    var port: Int?

    /// The configuration: defaults, the file, the environment, then these options.
    func configuration<Configuration: ListeningConfiguration>(for name: String) throws -> Configuration {
        var configuration = Configuration()
        do {
            if let config { try configuration.load(file: config) }
            try configuration.load(environment: ProcessInfo.processInfo.environment)
        } catch {
            printError("ots \(name): \(error)")
            throw ExitCode(1)
        }
        if let database { configuration.database = try parseDatabaseURL(database) }
        if let host { configuration.host = host }
        if let port {
            guard (0...65535).contains(port) else { throw ValidationError("--port must be from 0 to 65535") }
            configuration.port = port
        }
        return configuration
    }
}
