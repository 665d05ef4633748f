import ArgumentParser
import Foundation
import Logging
import OTSCore
import OTSHTTP
import OTSMonitor
import OTSServer
import OTSStore
import OTSWorker
import ServiceLifecycle
import UnixSignals

/// The whole farm in one process: a server, a monitor and simulated worker
/// instances over one SQLite file in a data folder. `ots up` and `ots demo`
/// run it.
struct EmbeddedFarm {
    /// The device group of the simulated instances (the demo request's).
    static let deviceGroup = "demo"

    var data: String
    var workers: Int
    var host: String
    var serverPort: Int
    var monitorPort: Int
    var logger: Logger

    /// Where the farm answers once it listens.
    struct Endpoints: Sendable {
        var server: String
        var monitor: String
        /// The farm's admin token (kept in `DATA/token`).
        var token: String
        var api: String { server + "/api/v1" }
        var dashboard: String { monitor + "/" }
    }

    var database: DatabaseURL { .sqlite(path: data + "/ots.sqlite") }
    var packagesDirectory: String { data + "/packages" }

    /// Runs the farm until SIGINT or SIGTERM, or until `session` returns
    /// (it starts once both server and monitor listen). Throws ExitCode(1)
    /// with one line on stderr when the farm cannot start.
    func run(session: @escaping @Sendable (Endpoints) async throws -> Void) async throws {
        let lock: DataLock
        do {
            try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
            lock = try DataLock(folder: data)
            try installDemoPackages()
        } catch {
            printError("ots: \(error)")
            throw ExitCode(1)
        }
        defer { lock.release() }
        let store: Store
        do {
            store = try await Store.open(database, logger: logger)
        } catch {
            printError("ots: cannot open the database \(database): \(error)")
            throw ExitCode(1)
        }
        let ports = Ports()
        // Reading is open to whoever reaches the farm (loopback unless
        // --host says otherwise); changing anything needs the token.
        let access = AccessPolicy(mode: .tokens, anonymousRead: true)
        let token: String
        do {
            token = try await adminToken(store)
        } catch {
            await store.close()
            printError("ots: cannot make the farm's token in \(tokenFile): \(error)")
            throw ExitCode(1)
        }
        var server = ServerConfiguration()
        server.database = database
        server.host = host
        server.port = serverPort
        server.access = access
        // The simulated instances live in this process: a new secret each time.
        server.enrollmentSecret = APIToken.randomSecret()
        var monitor = MonitorConfiguration()
        monitor.database = database
        monitor.host = host
        monitor.port = monitorPort
        monitor.access = access
        // The dashboard links results and fetched files to this server, and
        // its operator buttons send commands there (its port known in advance).
        if serverPort != 0 {
            let address = host == "0.0.0.0" ? "127.0.0.1" : host.contains(":") ? "[\(host)]" : host
            monitor.serverURL = "http://\(address):\(serverPort)"
        }
        let host = host
        var workerConfiguration = workerConfiguration()
        workerConfiguration.enrollmentSecret = server.enrollmentSecret
        let monitorServices: [any Service]
        let serverServices: [any Service]
        do {
            monitorServices = try OTSMonitor(store: store, configuration: monitor, logger: logger).services { port in
                await ports.monitorListens(on: port)
            }
            serverServices = try OTSServer(store: store, configuration: server, logger: logger).services { port in
                await ports.serverListens(on: port)
            }
        } catch {
            await store.close()
            printError("ots: \(error)")
            throw ExitCode(1)
        }
        let workers = SimulatedWorkers(configuration: workerConfiguration, ports: ports, host: host, logger: logger)
        let session = SessionService(ports: ports, host: host, token: token, session: session)
        // A group shuts its services down in reverse order: the session,
        // then the workers (they tell the server they go), then the server,
        // then the monitor.
        let services: [ServiceGroupConfiguration.ServiceConfiguration] =
            (monitorServices + serverServices + [workers]).map { .init(service: $0) }
            + [
                .init(
                    service: session, successTerminationBehavior: .gracefullyShutdownGroup,
                    failureTerminationBehavior: .gracefullyShutdownGroup)
            ]
        var configuration = ServiceGroupConfiguration(services: services, logger: logger)
        configuration.gracefulShutdownSignals = [.sigterm, .sigint]
        // Should a part not stop (a request the server still waits on),
        // the farm still does, a little later.
        configuration.maximumGracefulShutdownDuration = .seconds(10)
        configuration.maximumCancellationDuration = .seconds(5)
        let group = ServiceGroup(configuration: configuration)
        do {
            try await group.run()
        } catch let error as ExitCode {
            await store.close()
            throw error
        } catch {
            await store.close()
            printError("ots: \(Self.describe(error, host: host, ports: (serverPort, monitorPort)))")
            throw ExitCode(1)
        }
        await store.close()
    }

    var tokenFile: String { data + "/token" }

    /// The farm's admin token: the one in `DATA/token` while the store knows
    /// it, else a new one written there (readable by its owner only).
    func adminToken(_ store: Store) async throws -> String {
        if let text = try? String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
            (try? await TokenAuthenticator(store: store).principal(token: text)) != nil
        {
            return text
        }
        let text = try await store.createToken(name: "ots up", scope: .admin).token
        guard
            FileManager.default.createFile(atPath: tokenFile, contents: Data((text + "\n").utf8), attributes: [.posixPermissions: 0o600]),
            (try? String(contentsOfFile: tokenFile, encoding: .utf8)) == text + "\n"
        else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: tokenFile])
        }
        return text
    }

    /// The simulated instances: `sim1` … `simN` of the device group `demo`.
    func workerConfiguration() -> WorkerConfiguration {
        var configuration = WorkerConfiguration()
        configuration.host = "localhost"
        configuration.spoolDirectory = data + "/worker-spool"
        configuration.workDirectory = data + "/worker"
        configuration.claimWait = 5
        configuration.instances = (1...max(1, workers)).map { number in
            let device = SimulatedDevice(flash: .init(seconds: 0.5), boot: .init(seconds: 0.5), seed: UInt64(number))
            var instance = WorkerConfiguration.Instance(
                name: "sim\(number)",
                device: DeviceProperties(devicegroup: Self.deviceGroup, devicename: "simulated", deviceid: String(number)),
                adapter: .simulated(device))
            instance.packagesDirectory = packagesDirectory
            return instance
        }
        return configuration
    }

    /// Puts the demo's packages into the data folder, leaving any package
    /// already there (an operator's own, or one they changed) as it is.
    func installDemoPackages() throws {
        try FileManager.default.createDirectory(atPath: packagesDirectory, withIntermediateDirectories: true)
        let source = Demo.packagesDirectory
        for name in try FileManager.default.contentsOfDirectory(atPath: source).sorted() {
            let target = packagesDirectory + "/" + name
            guard !FileManager.default.fileExists(atPath: target) else { continue }
            try FileManager.default.copyItem(atPath: source + "/" + name, toPath: target)
        }
    }

    static func describe(_ error: any Error, host: String, ports: (Int, Int)) -> String {
        let text = String(describing: error)
        if text.contains("Address already in use") || text.contains("EADDRINUSE") {
            return "cannot listen on \(host) port \(ports.0) or \(ports.1): the address is in use (another OTS running?). "
                + "Pass --port 0 to pick free ports."
        }
        return text
    }
}

/// The demo's request and packages, shipped with the `ots` binary.
enum Demo {
    static var folder: String { Bundle.module.bundlePath + "/Demo" }
    static var packagesDirectory: String { folder + "/packages" }

    static func request() throws -> TestrunRequest {
        try SubmitCommand.read(folder + "/request.json")
    }
}

/// The ports the server and the monitor got, awaited (until cancelled) by
/// whoever needs them.
actor Ports {
    private var server: Int?
    private var monitor: Int?

    func serverListens(on port: Int) { server = port }
    func monitorListens(on port: Int) { monitor = port }

    /// The server's port, once it listens.
    func serverPort() async throws -> Int {
        while true {
            if let server { return server }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Both ports, once both listen.
    func both() async throws -> (server: Int, monitor: Int) {
        while true {
            if let server, let monitor { return (server, monitor) }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}

/// Runs the simulated worker instances once the server listens (its port
/// may be picked at start), as a group of their own that shuts down with
/// the farm's.
struct SimulatedWorkers: Service {
    let configuration: WorkerConfiguration
    let ports: Ports
    let host: String
    let logger: Logger

    func run() async throws {
        let port: Int
        do {
            port = try await cancelWhenGracefulShutdown { try await ports.serverPort() }
        } catch is CancellationError {
            return
        }
        var configuration = configuration
        configuration.server = "http://\(Self.urlHost(host)):\(port)"
        let group = ServiceGroup(
            services: try OTSWorkerProcess.services(configuration: configuration, logger: logger),
            gracefulShutdownSignals: [], logger: logger)
        try await withGracefulShutdownHandler {
            try await group.run()
        } onGracefulShutdown: {
            Task { await group.triggerGracefulShutdown() }
        }
    }

    /// A host for a URL: IPv6 addresses in brackets, a wildcard as loopback.
    static func urlHost(_ host: String) -> String {
        switch host {
        case "0.0.0.0", "": "127.0.0.1"
        case "::": "[::1]"
        default: host.contains(":") ? "[\(host)]" : host
        }
    }
}

/// Runs the command's own part once the farm listens; returning (or
/// throwing) ends the farm.
struct SessionService: Service {
    let ports: Ports
    let host: String
    let token: String
    let session: @Sendable (EmbeddedFarm.Endpoints) async throws -> Void

    func run() async throws {
        let both: (server: Int, monitor: Int)
        do {
            both = try await cancelWhenGracefulShutdown { try await ports.both() }
        } catch is CancellationError {
            return
        }
        let address = SimulatedWorkers.urlHost(host)
        try await session(
            .init(server: "http://\(address):\(both.server)", monitor: "http://\(address):\(both.monitor)", token: token))
    }
}

/// An exclusive lock on a data folder, so two farms never share one.
final class DataLock: Sendable {
    let descriptor: Int32

    struct Busy: Error, CustomStringConvertible {
        var folder: String
        var description: String { "another ots up or ots demo is using \(folder); stop it first or pass --data with another folder" }
    }

    init(folder: String) throws {
        let path = folder + "/.lock"
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: path])
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            throw Busy(folder: folder)
        }
    }

    func release() {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
