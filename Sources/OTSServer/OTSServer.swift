import Distribution
import Foundation
import Hummingbird
import Logging
import NIOCore
import OTSHTTP
import OTSStore
import ServiceLifecycle

/// An OTS server: the REST API and the sweeper over one store.
public struct OTSServer {
    public let farm: Farm
    let configuration: ServerConfiguration
    let logger: Logger

    public init(store: Store, configuration: ServerConfiguration, models: DistributionModels = .builtIn, logger: Logger) {
        self.farm = Farm(store: store, configuration: configuration, models: models, logger: logger)
        self.configuration = configuration
        self.logger = logger
    }

    /// The services to run in one group: the HTTP server and the sweeper.
    /// `onListening` hears the port once the server listens (useful with
    /// port 0).
    public func services(onListening: @escaping @Sendable (Int) async -> Void = { _ in }) throws -> [any Service] {
        let router = Router(context: OTSRequestContext.self)
        router.add(middleware: ErrorMiddleware(retryAfterSeconds: configuration.dbUnavailableSeconds))
        let authenticator = TokenAuthenticator(store: farm.store)
        APIRoutes(
            farm: farm, access: configuration.access, enrollmentSecret: configuration.enrollmentSecret, authenticator: authenticator
        ).register(on: router)
        router.addRoutes(
            XMLRPCRoutes(
                farm: farm, access: configuration.access, anonymous: configuration.anonymousSubmit, authenticator: authenticator,
                maxBytes: configuration.maxRequestBytes
            ).collection)
        let app = Application(
            router: router,
            server: try .ots(tls: configuration.tls),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "ots"),
            onServerRunning: { [farm] channel in
                let port = channel.localAddress?.port ?? 0
                farm.address.listening(on: port)
                await onListening(port)
            },
            logger: logger
        )
        let sweeper = Sweeper(farm: farm, interval: .milliseconds(Int64(configuration.sweepInterval * 1000)), logger: logger)
        return [app, sweeper]
    }
}
