import Foundation
import Hummingbird
import Logging
import NIOCore
import OTSClient
import OTSCore
import OTSHTTP
import OTSStore
import ServiceLifecycle

/// An OTS monitor: consumes the monitor queue into the event store,
/// decides worker liveness, and answers questions over HTTP.
public struct OTSMonitor {
    let store: Store
    let configuration: MonitorConfiguration
    let logger: Logger

    public init(store: Store, configuration: MonitorConfiguration, logger: Logger) {
        self.store = store
        self.configuration = configuration
        self.logger = logger
    }

    /// The services to run in one group: the queue loop and the HTTP API.
    public func services(onListening: @escaping @Sendable (Int) async -> Void = { _ in }) throws -> [any Service] {
        let metrics = MonitorMetrics()
        let own = OwnAddress(host: configuration.host, port: configuration.port)
        let router = Router(context: OTSRequestContext.self)
        router.add(middleware: ErrorMiddleware(retryAfterSeconds: configuration.dbUnavailableSeconds))
        let authenticator = TokenAuthenticator(store: store)
        let reading = AccessMiddleware(.read, policy: configuration.access, authenticator: authenticator)
        MonitorRoutes(store: store, configuration: configuration, metrics: metrics).register(on: router, reading: reading)
        do {
            try Dashboard(store: store, consumer: configuration.consumer, configuration: configuration).register(
                on: router, reading: reading, authenticator: authenticator, secureCookie: configuration.tls != nil,
                operators: Dashboard.Operators(server: configuration.serverURL, policy: configuration.access, authenticator: authenticator))
        } catch {
            logger.error("the dashboard cannot be served: \(error)")
        }
        let app = Application(
            router: router,
            server: try .ots(tls: configuration.tls),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "ots-monitor"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                own.listening(on: port)
                await onListening(port)
            },
            logger: logger
        )
        let loop = MonitorLoop(
            ingest: Ingest(store: store, configuration: configuration, logger: logger, metrics: metrics),
            liveness: Liveness(store: store, configuration: configuration, logger: logger),
            store: store, configuration: configuration, logger: logger)
        var services: [any Service] = [loop, app]
        if configuration.publish {
            services.append(
                Publisher(target: .callbacks, store: store, configuration: configuration, http: Publisher.http, own: own, logger: logger))
            if let email = configuration.email {
                services.append(MailPublisher(store: store, email: email, configuration: configuration, logger: logger))
            }
            for webhook in configuration.webhooks {
                services.append(
                    Publisher(
                        target: .webhook(webhook), store: store, configuration: configuration, http: Publisher.http, own: own,
                        logger: logger))
            }
        }
        return services
    }
}
