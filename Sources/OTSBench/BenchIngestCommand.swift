import ArgumentParser
import Foundation
import Logging
import OTSClient
import OTSCore
import OTSMonitor
import OTSServer
import OTSStore
import ServiceLifecycle

/// `ots bench ingest`: events from worker batches into the event store,
/// end to end, with a real server and monitor over loopback HTTP.
struct BenchIngestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract:
            "Measure end-to-end ingest: events posted in worker batches until the monitor has stored them, and its lag at a fixed rate.",
        discussion: """
            Starts a server and a monitor in this process on one database (a new SQLite file, or the empty database \
            given). First as fast as it goes: --events events in batches of --batch from --senders senders at once, \
            timed until the event store holds them all. Then --rate events a second for --seconds, sampling the \
            monitor's lag (the age of the oldest event it has not stored) every 100 ms.
            """
    )

    @Option(help: "The database: sqlite:///path or postgres://... (default: a new SQLite file). Use an empty database.")
    var database: String?
    @Option(help: "Events for the throughput run.") var events = 50_000
    @Option(help: "Events per batch, as a worker sends them.") var batch = 100
    @Option(help: "Senders posting at once.") var senders = 4
    @Option(help: "Events a second for the lag run.") var rate = 1000
    @Option(help: "Seconds of the lag run.") var seconds = 10

    func validate() throws {
        guard events > 0, batch > 0, batch <= EventBatch.limit, senders > 0, rate > 0, seconds > 0 else {
            throw ValidationError("--events, --batch (up to \(EventBatch.limit)), --senders, --rate and --seconds must be positive")
        }
    }

    func run() async throws {
        var logger = Logger(label: "ots.bench")
        logger.logLevel = .warning
        let folder = FileManager.default.temporaryDirectory.path + "/ots-bench-ingest-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let url = try database.map(parseDatabaseURL) ?? .sqlite(path: folder + "/ots.sqlite")
        let store = try await Store.open(url, logger: logger)
        var serverConfiguration = ServerConfiguration()
        serverConfiguration.port = 0
        // The events come from an instance registered without enrolling.
        serverConfiguration.access = AccessPolicy(mode: .off)
        var monitorConfiguration = MonitorConfiguration()
        monitorConfiguration.port = 0
        monitorConfiguration.pollInterval = 0.05
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let services =
            try OTSServer(store: store, configuration: serverConfiguration, logger: logger).services { portContinuation.yield($0) }
            + OTSMonitor(store: store, configuration: monitorConfiguration, logger: logger).services()
        let group = ServiceGroup(services: services, gracefulShutdownSignals: [], logger: logger)
        let result: (throughput: Double, posted: Double, lags: [Double])
        do {
            result = try await withThrowingTaskGroup(of: (Double, Double, [Double])?.self) { tasks in
                tasks.addTask {
                    try await group.run()
                    return nil
                }
                var iterator = ports.makeAsyncIterator()
                guard let port = await iterator.next() else { throw ValidationError("the server did not start") }
                let client = OTSClient(baseURL: "http://127.0.0.1:\(port)")
                let measured = try await measure(client: client, store: store)
                await group.triggerGracefulShutdown()
                for try await _ in tasks {}
                return measured
            }
        } catch {
            await store.close()
            throw error
        }
        await store.close()
        let lags = Percentiles(result.lags)
        func percentile(_ p: Double) -> Double { lags.percentile(p) ?? 0 }
        print("ingest on \(store.dialect.rawValue) (\(url)): batches of \(batch) from \(senders) senders")
        print(
            String(
                format: "  %d events posted and stored: %.0f events/s end to end (posting alone: %.0f events/s)", events, result.throughput,
                result.posted))
        print(
            String(
                format: "  at %d events/s for %d s, monitor lag: median %.3f s, p99 %.3f s, max %.3f s", rate, seconds, percentile(0.5),
                percentile(0.99), lags.sorted.last ?? 0))
    }

    private func measure(client: OTSClient, store: Store) async throws -> (Double, Double, [Double]) {
        let sender = MonitorEvent.Sender(host: "bench", instance: "sender")
        // A worker tells only of a task it holds: the sender holds one.
        _ = try await client.register(
            WorkerRegistration(
                host: sender.host, instance: sender.instance, pid: sender.pid, device: DeviceProperties(devicegroup: "bench")))
        _ = try await client.submit(TestrunRequest(device: DeviceProperties(devicegroup: "bench"), packages: .init(device: ["bench"])))
        guard let task = try await client.claim(workerID: sender.workerID, wait: 5) else {
            throw ValidationError("the bench's own task was not handed out")
        }
        func batchOf(_ count: Int) -> [MonitorEvent] {
            (0..<count).map { _ in
                var event = MonitorEvent(
                    type: .caseFinished, sender: sender, testrunID: task.testrunID, taskID: task.taskID, attempt: task.attempt)
                event.package = "bench"
                event.set = "set"
                event.testCase = "case"
                event.verdict = "PASS"
                return event
            }
        }
        func stored() async throws -> Int {
            try await store.read { tx in try await tx.eventCount(type: EventType.caseFinished.rawValue) }
        }
        let clock = ContinuousClock()
        let start = clock.now
        let batches = (events + batch - 1) / batch
        try await withThrowingTaskGroup(of: Void.self) { posters in
            for sender in 0..<senders {
                posters.addTask {
                    for index in stride(from: sender, to: batches, by: senders) {
                        _ = try await client.post(events: batchOf(min(batch, events - index * batch)))
                    }
                }
            }
            try await posters.waitForAll()
        }
        let posted = clock.now - start
        // Waits on the monitor's backlog (a count of what is left, cheap
        // however much is stored), then checks the event store.
        func done() async throws -> Bool {
            guard try await store.backlog(consumer: "monitor").count == 0 else { return false }
            return try await stored() >= events
        }
        while try await !done() { try await Task.sleep(for: .milliseconds(20)) }
        let done = clock.now - start
        printError("… throughput run done")

        // The lag run: a steady rate, sampled.
        var lags: [Double] = []
        let interval = Duration.milliseconds(100)
        let perTick = max(1, rate / 10)
        let lagStart = clock.now
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                var next = clock.now
                while clock.now - lagStart < .seconds(seconds) {
                    _ = try await client.post(events: batchOf(perTick))
                    next = next.advanced(by: interval)
                    try await Task.sleep(until: next, clock: clock)
                }
            }
            while clock.now - lagStart < .seconds(seconds) {
                let backlog = try await store.backlog(consumer: "monitor")
                lags.append(backlog.oldest.map { max(0, Date().timeIntervalSince($0)) } ?? 0)
                try await Task.sleep(for: interval)
            }
            try await tasks.waitForAll()
        }
        return (Double(events) / (done / .seconds(1)), Double(events) / (posted / .seconds(1)), lags)
    }
}
