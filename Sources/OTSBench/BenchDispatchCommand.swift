import ArgumentParser
import Foundation
import Logging
import OTSClient
import OTSCore
import OTSServer
import OTSStore
import OTSWorker
import ServiceLifecycle
import Synchronization

/// `ots bench dispatch`: how long a submitted testrun waits before an idle
/// worker starts its task, over many testruns, with a real server and a
/// real worker (in this process) talking HTTP on loopback.
struct BenchDispatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dispatch",
        abstract: "Measure dispatch latency: submit → task started on an idle worker, over many testruns.",
        discussion: """
            Starts a server on a loopback port and a worker with one simulated device (no flash or boot time) in this \
            process. Each testrun is submitted once the previous one has ended, so the worker is idle and waiting in its \
            long-poll claim. By default the store is a new SQLite file; --database names another (use an empty database: \
            the benchmark adds its testruns to it).
            """
    )

    @Option(help: "The database: sqlite:///path or postgres://user:password@host:port/database (default: a new SQLite file).")
    var database: String?

    @Option(help: "Testruns to submit, one after another.")
    var testruns = 1000

    @Flag(help: "Print the report as JSON.")
    var json = false

    func validate() throws {
        guard testruns > 0 else { throw ValidationError("--testruns must be positive") }
    }

    func run() async throws {
        var logger = Logger(label: "ots.bench")
        logger.logLevel = .warning
        let folder = FileManager.default.temporaryDirectory.path + "/ots-bench-dispatch-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.createDirectory(atPath: folder + "/packages/bench", withIntermediateDirectories: true)
        try """
        <?xml version="1.0" encoding="UTF-8"?>
        <testdefinition version="1.0">
          <suite name="bench"><set name="bench"><case name="true"><step>true</step></case></set></suite>
        </testdefinition>
        """.write(toFile: folder + "/packages/bench/tests.xml", atomically: true, encoding: .utf8)

        let url = try database.map(parseDatabaseURL) ?? .sqlite(path: folder + "/ots.sqlite")
        let store = try await Store.open(url, logger: logger)
        var serverConfiguration = ServerConfiguration()
        serverConfiguration.database = url
        serverConfiguration.port = 0
        let token = try await BenchAccess.prepare(store, server: &serverConfiguration)
        let server = OTSServer(store: store, configuration: serverConfiguration, logger: logger)
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let started = StartTimes()

        let serverGroup = ServiceGroup(
            services: try server.services { port in portContinuation.yield(port) }, gracefulShutdownSignals: [], logger: logger)
        let measured: [Duration]
        do {
            measured = try await measure(
                store: store, serverGroup: serverGroup, ports: ports, started: started, folder: folder, token: token,
                enrollmentSecret: serverConfiguration.enrollmentSecret, logger: logger)
        } catch {
            await store.close()
            throw error
        }
        await store.close()
        report(measured.sorted(), engine: store.dialect.rawValue, url: url)
    }

    private func measure(
        store: Store, serverGroup: ServiceGroup, ports: AsyncStream<Int>, started: StartTimes, folder: String, token: String,
        enrollmentSecret: String?, logger: Logger
    ) async throws -> [Duration] {
        try await withThrowingTaskGroup(of: [Duration].self) { group in
            group.addTask {
                try await serverGroup.run()
                return []
            }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { throw ValidationError("the server did not start") }
            let baseURL = "http://127.0.0.1:\(port)"

            var workerConfiguration = WorkerConfiguration()
            workerConfiguration.server = baseURL
            workerConfiguration.spoolDirectory = folder + "/spool"
            workerConfiguration.workDirectory = folder + "/work"
            workerConfiguration.host = "bench"
            workerConfiguration.enrollmentSecret = enrollmentSecret
            var instance = WorkerConfiguration.Instance(
                name: "sim", device: DeviceProperties(devicegroup: "bench"), adapter: .simulated(SimulatedDevice()))
            instance.packagesDirectory = folder + "/packages"
            workerConfiguration.instances = [instance]
            let workerGroup = ServiceGroup(
                services: try OTSWorkerProcess.services(configuration: workerConfiguration, logger: logger) {
                    started.record($0.testrunID)
                },
                gracefulShutdownSignals: [], logger: logger)
            group.addTask {
                try await workerGroup.run()
                return []
            }

            let client = OTSClient(baseURL: baseURL, token: token)
            var request = TestrunRequest(device: DeviceProperties(devicegroup: "bench"), packages: .init(device: ["bench"]))
            request.detailLevel = .package
            // One testrun first, so that connections and the worker are warm.
            var latencies: [Duration] = []
            let clock = ContinuousClock()
            for number in 0...testruns {
                let submitted = clock.now
                let view = try await client.submit(request)
                let start = try await started.wait(for: view.id)
                if number > 0 { latencies.append(start - submitted) }
                while try await !client.testrun(id: view.id).isEnded {
                    try await Task.sleep(for: .milliseconds(2))
                }
                if number > 0 && number % 100 == 0 { printError("… \(number) of \(testruns) testruns") }
            }
            await workerGroup.triggerGracefulShutdown()
            await serverGroup.triggerGracefulShutdown()
            try await group.waitForAll()
            return latencies
        }
    }

    private func report(_ sorted: [Duration], engine: String, url: DatabaseURL) {
        func ms(_ duration: Duration) -> Double { duration / .milliseconds(1) }
        let percentiles = Percentiles(sorted)
        func percentile(_ p: Double) -> Double { percentiles.percentile(p).map(ms) ?? 0 }
        let median = percentile(0.5)
        let p99 = percentile(0.99)
        if json {
            print(
                #"{"engine":"\#(engine)","testruns":\#(sorted.count),"median_ms":\#(String(format: "%.2f", median)),"p90_ms":\#(String(format: "%.2f", percentile(0.9))),"p99_ms":\#(String(format: "%.2f", p99)),"max_ms":\#(String(format: "%.2f", ms(sorted.last!)))}"#
            )
            return
        }
        print("dispatch latency on \(engine) (\(url)): \(sorted.count) testruns, submit → task started on an idle worker")
        print(String(format: "  median %8.2f ms", median))
        print(String(format: "  p90    %8.2f ms", percentile(0.9)))
        print(String(format: "  p99    %8.2f ms", p99))
        print(String(format: "  max    %8.2f ms", ms(sorted.last!)))
    }
}

/// When the worker started each testrun's task.
final class StartTimes: Sendable {
    private struct State {
        var times: [String: ContinuousClock.Instant] = [:]
        var waiters: [String: CheckedContinuation<ContinuousClock.Instant, Never>] = [:]
    }

    private let state = Mutex(State())

    func record(_ testrunID: String) {
        let now = ContinuousClock.now
        let waiter = state.withLock { state -> CheckedContinuation<ContinuousClock.Instant, Never>? in
            if let waiter = state.waiters.removeValue(forKey: testrunID) { return waiter }
            state.times[testrunID] = now
            return nil
        }
        waiter?.resume(returning: now)
    }

    func wait(for testrunID: String) async throws -> ContinuousClock.Instant {
        await withCheckedContinuation { continuation in
            let time = state.withLock { state -> ContinuousClock.Instant? in
                if let time = state.times.removeValue(forKey: testrunID) { return time }
                state.waiters[testrunID] = continuation
                return nil
            }
            if let time { continuation.resume(returning: time) }
        }
    }
}
