import ArgumentParser
import Foundation
import Logging
import OTSClient
import OTSCore
import OTSWorker
import ServiceLifecycle
import UnixSignals

/// `ots worker`: runs the instances of a worker configuration.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run an OTS worker: one instance per device, each claiming and running tasks for its device.",
        discussion: """
            See examples/worker.toml for a configuration with simulated devices. The enrollment secret comes from the file \
            (enrollment_secret) or OTS_ENROLLMENT_SECRET.
            """
    )

    @Option(help: "The worker's TOML configuration file.")
    var config: String

    @Option(help: "The server's URL (overrides the file; environment: OTS_SERVER).")
    var server: String?

    /// Longest a stop on SIGTERM may take (a step's 5 s of grace, the
    /// offline notices) before the process exits anyway.
    static let grace = Duration.seconds(20)

    func run() async throws {
        var configuration: WorkerConfiguration
        do {
            configuration = try WorkerConfiguration.load(file: config)
            try configuration.load(environment: ProcessInfo.processInfo.environment)
        } catch {
            printError("ots worker: \(error)")
            throw ExitCode(1)
        }
        if let server { configuration.server = server }
        let logger = Logger(label: "ots.worker")
        let services: [any Service]
        do {
            services = try OTSWorkerProcess.services(
                configuration: configuration, logger: logger, http: try OTSClient.http(trusting: configuration.caFile))
        } catch {
            printError("ots worker: \(error)")
            throw ExitCode(1)
        }
        printLine(
            "ots worker serving \(configuration.server) with \(configuration.instances.count) instance(s): "
                + configuration.instances.map { "\($0.name) (\($0.device.requestedRoutingKey))" }.joined(separator: ", "))
        // Last, so that a graceful shutdown reaches it first; it returns
        // once it is set, and the group goes on without it.
        let deadline = ServiceGroupConfiguration.ServiceConfiguration(
            service: ShutdownDeadline(grace: Self.grace, logger: logger), successTerminationBehavior: .ignore)
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: services.map { .init(service: $0) } + [deadline], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            printError("ots worker: \(error)")
            throw ExitCode(1)
        }
    }
}
