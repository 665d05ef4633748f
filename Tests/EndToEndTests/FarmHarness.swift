import Foundation
import Logging
import OTSClient
import OTSCore
import OTSStore
import OTSTestSupport
import SQLKit
import Testing

/// The database engines the farm tests run on: SQLite always, PostgreSQL
/// when OTS_TEST_POSTGRES_URL names a server (`./scripts/test.sh` starts one).
enum FarmEngine: String, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    static var postgresURL: String? { ProcessInfo.processInfo.environment["OTS_TEST_POSTGRES_URL"] }
    static var available: [FarmEngine] { postgresURL == nil ? [.sqlite] : [.sqlite, .postgres] }
    var testDescription: String { rawValue }
}

/// A child process started for a test, with its output in files.
final class ChildProcess: @unchecked Sendable {
    // Process is not Sendable; the test that owns a ChildProcess only
    // starts, signals and waits for it, and Process guards those itself.
    let process = Process()
    let stdoutPath: String
    let stderrPath: String

    init(_ arguments: [String], executable: String = OTSBinary.path, environment: [String: String] = [:], logs: String) throws {
        stdoutPath = logs + ".out"
        stderrPath = logs + ".err"
        FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = FileHandle(forWritingAtPath: stdoutPath)
        process.standardError = FileHandle(forWritingAtPath: stderrPath)
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    func kill(_ signal: Int32) {
        if process.isRunning { Foundation.kill(process.processIdentifier, signal) }
    }

    /// Waits until the process has ended (exited, or a zombie its parent
    /// has yet to reap); fails the test when it still runs after `timeout`.
    @discardableResult
    func waitForExit(timeout: Double) async throws -> Bool {
        try await eventually("process \(pid) to end", within: .seconds(timeout)) {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let state = stat.split(separator: ")").last?.split(separator: " ").first
            else { return true }
            return state == "Z"
        }
        process.waitUntilExit()
        return true
    }

    func stop() {
        kill(SIGTERM)
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        kill(SIGKILL)
        process.waitUntilExit()
    }
}

/// A whole farm on loopback: a real `ots server` on a database of its own
/// and real `ots worker` processes with simulated devices.
final class TestFarm: @unchecked Sendable {
    // Mutable state is only touched by the one test that owns the farm.
    struct WorkerSpec {
        var name: String
        var devicegroup = "e2e"
        /// Extra lines for the instance's [instance.simulated] table.
        var simulated = "flash_seconds = 0.05\nboot_seconds = 0.05"
        var environment: [String: String] = [:]
        /// The server it talks to (default: the farm's).
        var server: String?
        /// The secret it enrolls with (default: the farm's).
        var enrollmentSecret = TestFarm.enrollmentSecret
        /// More lines for the [[instance]] table (an executor, say).
        var instance = ""
        /// More top-level lines of the worker's file.
        var settings = ""
        /// Where `file` URLs may point (default: the workspace and the
        /// repository, whose examples link into its sources).
        var imageDirectories: [String]?
        /// The longest a claim waits (quick by default, so that tests end soon).
        var claimWait = 2.0
    }

    let workspace: Workspace
    let engine: FarmEngine
    let databaseURL: String
    var server: ChildProcess
    var workers: [String: ChildProcess] = [:]
    var specs: [String: WorkerSpec] = [:]
    let baseURL: String
    let port: Int
    /// Talks to the server with `token`.
    let client: OTSClient
    /// An admin token, made with `ots token create`.
    let token: String
    let serverConfig: String
    var extraServers: [ChildProcess] = []
    private let dropDatabase: String?

    /// Tokens are checked as in a deployment; reading is open so that
    /// tests that only look need no token (the security tests close it).
    static let serverDefaults = [
        "lease_seconds": "5", "heartbeat_seconds": "0.3", "sweep_interval": "0.2", "queue_timeout": "60", "claim_wait": "5",
        "claim_poll": "0.2", "enrollment_secret": "\"\(enrollmentSecret)\"", "anonymous_read": "true",
    ]
    static let enrollmentSecret = "e2e-enrollment-secret"

    /// The server options of the CLI, with the farm's token.
    var cli: [String] { ["--server", baseURL, "--token", token] }

    /// `postgresBase` names a PostgreSQL server of the test's own (the
    /// shared one by default).
    init(engine: FarmEngine, serverSettings: [String: String] = [:], workers: [WorkerSpec], postgresBase: String? = nil) async throws {
        workspace = try Workspace()
        self.engine = engine
        switch engine {
        case .sqlite:
            databaseURL = "sqlite://" + workspace.file("ots.sqlite")
            dropDatabase = nil
        case .postgres:
            let base = try #require(postgresBase ?? FarmEngine.postgresURL)
            let name = "ots_e2e_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
            try await Self.admin(base) { db in try await db.raw("CREATE DATABASE \(unsafeRaw: name)").run() }
            var components = URLComponents(string: base)!
            components.path = "/" + name
            databaseURL = components.string!
            // A server of the test's own goes away with its database.
            dropDatabase = postgresBase == nil ? name : nil
        }
        let settings = Self.serverDefaults.merging(serverSettings) { $1 }
        serverConfig = try workspace.write(
            "server.toml", settings.sorted { $0.key < $1.key }.map { "\($0.key) = \($0.value)\n" }.joined())
        (server, port) = try await Self.startServer(config: serverConfig, database: databaseURL, port: 0, logs: workspace.file("server"))
        baseURL = "http://127.0.0.1:\(port)"
        token = try await Self.createToken(database: databaseURL, scope: "admin", in: workspace.path)
        client = OTSClient(baseURL: baseURL, token: token)
        for spec in workers {
            try startWorker(spec)
        }
    }

    /// Makes a token with `ots token create`; returns it.
    static func createToken(database: String, scope: String, name: String = "e2e", in folder: String) async throws -> String {
        let created = try await OTSBinary.run(["token", "create", "--database", database, "--name", name, "--scope", scope], in: folder)
        guard created.status == 0 else { throw FarmError("ots token create failed: \(created.stderr)") }
        return created.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Starts `ots server` and waits until it listens; returns it and its port.
    static func startServer(config: String, database: String, port: Int, logs: String, arguments: [String] = []) async throws -> (
        ChildProcess, Int
    ) {
        let server = try ChildProcess(
            ["server", "--config", config, "--database", database, "--port", String(port)] + arguments, logs: logs)
        do {
            let port = try await eventually("the server to listen", every: .milliseconds(50), detail: String(server.stderr.suffix(2000))) {
                () throws -> Int? in
                if let range = server.stdout.range(of: #"listening on https?://127\.0\.0\.1:(\d+)"#, options: .regularExpression),
                    let port = Int(server.stdout[range].split(separator: ":").last ?? "")
                {
                    return port
                }
                guard server.process.isRunning else { throw FarmError("the server did not start: \(server.stderr.suffix(2000))") }
                return nil
            }
            return (server, port)
        } catch {
            server.stop()
            throw error
        }
    }

    /// Starts an `ots monitor` on the farm's database; returns it and its URL.
    func startMonitor(_ name: String = "monitor", settings: String = "", port: Int = 0) async throws -> (ChildProcess, String) {
        // Defaults for what `settings` does not set itself.
        let defaults = ["heartbeat_seconds = 0.3", "missed_heartbeats = 3", "poll_interval = 0.05", "anonymous_read = true"].filter {
            line in
            !settings.split(separator: "\n").contains { $0.hasPrefix(line.prefix { $0 != " " } + " ") }
        }
        let config = try workspace.write("\(name).toml", defaults.map { $0 + "\n" }.joined() + settings)
        let monitor = try ChildProcess(
            ["monitor", "--config", config, "--database", databaseURL, "--port", String(port)], logs: workspace.file(name))
        do {
            let port = try await eventually("the monitor to listen", every: .milliseconds(50), detail: String(monitor.stderr.suffix(2000)))
            {
                () throws -> Int? in
                if let range = monitor.stdout.range(of: #"listening on https?://127\.0\.0\.1:(\d+)"#, options: .regularExpression),
                    let port = Int(monitor.stdout[range].split(separator: ":").last ?? "")
                {
                    return port
                }
                guard monitor.process.isRunning else { throw FarmError("the monitor did not start: \(monitor.stderr.suffix(2000))") }
                return nil
            }
            extraServers.append(monitor)
            return (monitor, "http://127.0.0.1:\(port)")
        } catch {
            monitor.stop()
            throw error
        }
    }

    /// The ids in the event store, read straight from the database.
    func storedEventIDs() async throws -> [String] {
        var logger = Logger(label: "ots.e2e")
        logger.logLevel = .warning
        let store = try await Store.open(try DatabaseURL(parsing: databaseURL), logger: logger, migrate: false)
        do {
            let ids = try await store.transaction { tx in
                try await tx.db.raw("SELECT id FROM events").all().map { try $0.decode(column: "id", as: String.self) }
            }
            await store.close()
            return ids
        } catch {
            await store.close()
            throw error
        }
    }

    /// Waits until the monitor's publishers have taken their places.
    func waitForPublishers(_ names: [String]) async throws {
        var logger = Logger(label: "ots.e2e")
        logger.logLevel = .warning
        let store = try await Store.open(try DatabaseURL(parsing: databaseURL), logger: logger, migrate: false)
        do {
            try await eventually("the publishers \(names) to take their places", every: .milliseconds(50)) {
                try await store.transaction { tx in
                    var all = true
                    for name in names where try await tx.publisherPosition(name) == nil { all = false }
                    return all
                }
            }
        } catch {
            await store.close()
            throw error
        }
        await store.close()
    }

    /// The publishers of the dead letters recorded.
    func deadLetters() async throws -> [String] {
        var logger = Logger(label: "ots.e2e")
        logger.logLevel = .warning
        let store = try await Store.open(try DatabaseURL(parsing: databaseURL), logger: logger, migrate: false)
        do {
            let letters = try await store.transaction { tx in try await tx.deadLetters().map(\.publisher) }
            await store.close()
            return letters
        } catch {
            await store.close()
            throw error
        }
    }

    /// How many history rows the monitor recorded.
    func historyCount() async throws -> Int {
        var logger = Logger(label: "ots.e2e")
        logger.logLevel = .warning
        let store = try await Store.open(try DatabaseURL(parsing: databaseURL), logger: logger, migrate: false)
        do {
            let count = try await store.transaction { tx in
                try await tx.db.raw("SELECT COUNT(*) AS n FROM history WHERE set_name IS NULL").first()?.decode(column: "n", as: Int.self)
                    ?? 0
            }
            await store.close()
            return count
        } catch {
            await store.close()
            throw error
        }
    }

    /// Waits until the monitor has recorded `count` set run times of a testrun.
    func waitForSetHistory(testrunID: String, count: Int, timeout: Double = 30) async throws {
        var logger = Logger(label: "ots.e2e")
        logger.logLevel = .warning
        let store = try await Store.open(try DatabaseURL(parsing: databaseURL), logger: logger, migrate: false)
        var recorded = 0
        do {
            try await eventually(
                "the monitor to record \(count) set run times of \(testrunID)", within: .seconds(timeout),
                detail: "recorded \(recorded)\n\(logs)"
            ) {
                recorded = try await store.transaction { tx in
                    try await tx.db.raw(
                        "SELECT COUNT(*) AS n FROM history WHERE set_name IS NOT NULL AND testrun_id = \(bind: testrunID)"
                    ).first()?.decode(column: "n", as: Int.self) ?? 0
                }
                return recorded >= count
            }
        } catch {
            await store.close()
            throw error
        }
        await store.close()
    }

    /// A testrun's events as the monitor stored them, once it has stored the
    /// testrun's end (events reach it in queue order, so all of them).
    func monitoredEvents(_ monitorURL: String, testrunID: String, timeout: Double = 30) async throws -> [MonitorEvent] {
        let monitor = OTSClient(baseURL: monitorURL)
        return try await eventually("the monitor to store the end of testrun \(testrunID)", within: .seconds(timeout), detail: logs) {
            let events = try await monitor.events(testrun: testrunID, limit: 10_000)
            return events.contains(where: { $0.type == .testrunFinished }) ? events : nil
        }
    }

    /// Waits until `count` workers are registered and not offline.
    func waitForWorkers(_ count: Int, timeout: Double = 30) async throws {
        var logger = Logger(label: "ots.e2e")
        logger.logLevel = .warning
        let store = try await Store.open(try DatabaseURL(parsing: databaseURL), logger: logger, migrate: false)
        var online = 0
        do {
            try await eventually("\(count) workers online", within: .seconds(timeout), detail: "\(online) online\n\(logs)") {
                online = try await store.transaction { tx in try await tx.workers().filter { $0.state != "offline" }.count }
                return online >= count
            }
        } catch {
            await store.close()
            throw error
        }
        await store.close()
    }

    /// Starts the server again on the same port and database.
    func restartServer() async throws {
        server.stop()
        (server, _) = try await Self.startServer(
            config: serverConfig, database: databaseURL, port: port, logs: workspace.file("server-\(UUID().uuidString.prefix(8))"))
    }

    /// Starts another server on the same database; returns its URL.
    func startAnotherServer() async throws -> String {
        let (other, port) = try await Self.startServer(
            config: serverConfig, database: databaseURL, port: 0, logs: workspace.file("server-\(extraServers.count + 2)"))
        extraServers.append(other)
        return "http://127.0.0.1:\(port)"
    }

    struct FarmError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    func startWorker(_ spec: WorkerSpec) throws {
        let packages = OTSBinary.repositoryRoot + "/Tests/EndToEndTests/Fixtures/packages"
        let config = try workspace.write(
            "worker-\(spec.name).toml",
            """
            server = "\(spec.server ?? baseURL)"
            host = "e2e"
            enrollment_secret = "\(spec.enrollmentSecret)"
            spool_dir = "spool-\(spec.name)"
            work_dir = "work-\(spec.name)"
            claim_wait = \(spec.claimWait)
            image_dirs = [\((spec.imageDirectories ?? [workspace.path, OTSBinary.repositoryRoot]).map { "\"\($0)\"" }.joined(separator: ", "))]
            \(spec.settings)

            [[instance]]
            name = "\(spec.name)"
            devicegroup = "\(spec.devicegroup)"
            adapter = "simulated"
            packages_dir = "\(packages)"
            \(spec.instance)

            [instance.simulated]
            \(spec.simulated)
            """
        )
        specs[spec.name] = spec
        workers[spec.name] = try ChildProcess(
            ["worker", "--config", config], environment: spec.environment, logs: workspace.file("worker-\(spec.name)"))
    }

    /// Starts a worker again with its configuration (and its spool).
    func restartWorker(_ name: String) throws {
        workers[name]?.stop()
        let spec = try #require(specs[name])
        workers[name] = try ChildProcess(
            ["worker", "--config", workspace.file("worker-\(name).toml")], environment: spec.environment,
            logs: workspace.file("worker-\(name)-\(UUID().uuidString.prefix(8))"))
    }

    /// Messages waiting in a worker's spool.
    func spooled(_ name: String) -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: workspace.file("spool-\(name)"))) ?? []).filter { $0.hasSuffix(".json") }
            .count
    }

    /// Waits until the testrun has ended, or fails the test after `timeout`.
    func waitForEnd(_ id: String, timeout: Double = 60) async throws -> TestrunView {
        try await waitFor(id, timeout: timeout, "the testrun to end") { $0.isEnded }
    }

    func waitFor(_ id: String, timeout: Double = 60, _ what: String, _ condition: (TestrunView) -> Bool) async throws -> TestrunView {
        var last: TestrunView?
        return try await eventually(what, within: .seconds(timeout), detail: "\(last?.summaryText ?? id)\n\(logs)") {
            let view = try await client.testrun(id: id)
            last = view
            return condition(view) ? view : nil
        }
    }

    var logs: String {
        "server log:\n\(server.stderr.suffix(4000))\n"
            + workers.map { "worker \($0.key) log:\n\($0.value.stderr.suffix(3000))" }.joined(separator: "\n")
    }

    /// The events on the monitor queue, read straight from the store.
    func queuedEvents() async throws -> [MonitorEvent] {
        var logger = Logger(label: "ots.e2e")
        logger.logLevel = .warning
        let store = try await Store.open(try DatabaseURL(parsing: databaseURL), logger: logger, migrate: false)
        var events: [MonitorEvent] = []
        let consumer = "e2e-" + UUID().uuidString
        do {
            while true {
                let count = try await store.consume(consumer: consumer, limit: 1000) { _, messages in
                    events += try messages.map { try JSONCoding.decoder().decode(MonitorEvent.self, from: Data($0.payload.utf8)) }
                }
                if count == 0 { break }
            }
        } catch {
            await store.close()
            throw error
        }
        await store.close()
        return events
    }

    func stop() async {
        for worker in workers.values { worker.stop() }
        server.stop()
        for other in extraServers { other.stop() }
        if let name = dropDatabase, let base = FarmEngine.postgresURL {
            try? await Self.admin(base) { db in try await db.raw("DROP DATABASE IF EXISTS \(unsafeRaw: name) WITH (FORCE)").run() }
        }
    }

    static func admin(_ base: String, _ body: (any SQLDatabase) async throws -> Void) async throws {
        var logger = Logger(label: "ots.e2e")
        logger.logLevel = .warning
        let admin = try Database.open(try DatabaseURL(parsing: base), logger: logger, connections: 1)
        do {
            try await admin.withConnection { try await body($0) }
        } catch {
            await admin.shutdown()
            throw error
        }
        await admin.shutdown()
    }

    /// Runs `body` with a farm and stops it after, whatever happens.
    static func with<R>(
        engine: FarmEngine, serverSettings: [String: String] = [:], workers: [WorkerSpec], postgresBase: String? = nil,
        _ body: (TestFarm) async throws -> R
    ) async throws -> R {
        let farm = try await TestFarm(engine: engine, serverSettings: serverSettings, workers: workers, postgresBase: postgresBase)
        do {
            let result = try await body(farm)
            await farm.stop()
            return result
        } catch {
            await farm.stop()
            throw error
        }
    }
}

extension TestrunView {
    var summaryText: String {
        "\(id) \(state) \(verdict?.rawValue ?? "-") \(error?.message ?? "") tasks: "
            + (tasks ?? []).map { "\($0.state)/\($0.phase ?? "-")/\($0.worker ?? "-")" }.joined(separator: ", ")
    }
}

func request(group: String = "e2e", device: [String] = [], model: String? = nil) -> TestrunRequest {
    var request = TestrunRequest(device: DeviceProperties(devicegroup: group), packages: .init(device: device))
    request.distributionModel = model
    request.image = "file:///dev/null"
    return request
}

/// Where the `hang` fixture packages write the pid of their step's shell
/// (`OTS_HANG_FILE`; `hang-on-first-attempt` appends `.ATTEMPT`); removed
/// with the test, and the step killed if it is still there.
final class HangFile: Sendable {
    let path = FileManager.default.temporaryDirectory.path + "/ots-hang-" + UUID().uuidString

    /// A worker whose steps know this file.
    func worker(_ name: String) -> TestFarm.WorkerSpec {
        var spec = TestFarm.WorkerSpec(name: name)
        spec.environment = ["OTS_HANG_FILE": path]
        return spec
    }

    func exists(_ suffix: String = "") -> Bool { FileManager.default.fileExists(atPath: path + suffix) }

    /// The step's pid, once it runs.
    func pid(_ suffix: String = "") -> Int32? {
        (try? String(contentsOfFile: path + suffix, encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// Waits until the process is gone; fails the test when it is still
    /// there after `timeout`.
    @discardableResult
    static func waitUntilGone(_ pid: Int32, timeout: Double = 20) async throws -> Bool {
        try await eventually("process \(pid) to be gone", within: .seconds(timeout)) { kill(pid, 0) != 0 }
        return true
    }

    deinit {
        for suffix in ["", ".1"] {
            if let pid = pid(suffix) { kill(pid, SIGKILL) }
            try? FileManager.default.removeItem(atPath: path + suffix)
        }
    }
}
