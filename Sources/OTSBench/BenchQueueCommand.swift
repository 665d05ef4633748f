import ArgumentParser
import Foundation
import Logging
import OTSStore

/// `ots bench queue`: the store's task and monitor queues, each beside the
/// raw bulk INSERT rate of the same engine in the same run.
struct BenchQueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "Measure the task queue (enqueue → claim → complete) and the monitor queue (append, consume) on a database."
    )

    @Option(help: "The database: sqlite:///path or postgres://user:password@host:port/database (default: a new SQLite file).")
    var database: String?

    @Option(help: "Tasks to run through the queue.")
    var tasks = 2000

    @Option(help: "Concurrent claimers.")
    var workers = 8

    @Option(help: "Events to append and consume.")
    var events = 20000

    @Option(help: "Routing key of the tasks (processes that share one compete for the same tasks).")
    var routingKey = "bench"

    @Flag(help: "Print the report as JSON.")
    var json = false

    func validate() throws {
        guard tasks > 0, workers > 0, events > 0 else {
            throw ValidationError("--tasks, --workers and --events must be positive")
        }
    }

    func run() async throws {
        var logger = Logger(label: "ots.bench")
        logger.logLevel = .warning
        var temporary: String?
        let url: DatabaseURL
        if let database {
            url = try parseDatabaseURL(database)
        } else {
            let folder = FileManager.default.temporaryDirectory.path + "/ots-bench-" + UUID().uuidString
            temporary = folder
            url = .sqlite(path: folder + "/ots.sqlite")
        }
        defer { if let temporary { try? FileManager.default.removeItem(atPath: temporary) } }
        let store = try await Store.open(url, logger: logger)
        let benchmark = StoreBenchmark(tasks: tasks, workers: workers, events: events, routingKey: routingKey)
        let report: StoreBenchmark.Report
        do {
            report = try await benchmark.run(on: store) { printError("… \($0)") }
        } catch {
            await store.close()
            throw error
        }
        await store.close()
        if json {
            let object: [String: Any] = [
                "engine": store.dialect.rawValue,
                "raw_task_inserts_per_second": report.rawTaskInsertsPerSecond,
                "task_cycles_per_second": report.taskCyclesPerSecond,
                "tasks_claimed": report.tasksClaimedByMe,
                "raw_event_inserts_per_second": report.rawEventInsertsPerSecond,
                "event_appends_per_second": report.eventAppendsPerSecond,
                "event_consumes_per_second": report.eventConsumesPerSecond,
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        func rate(_ value: Double) -> String { String(format: "%10.0f /s", value) }
        print("store benchmark on \(store.dialect.rawValue) (\(url)): \(tasks) tasks, \(workers) workers, \(events) events")
        print("  raw bulk INSERT, task rows        \(rate(report.rawTaskInsertsPerSecond))")
        print(
            "  enqueue → claim → complete        \(rate(report.taskCyclesPerSecond))  (\(String(format: "%.1f", report.rawTaskInsertsPerSecond / report.taskCyclesPerSecond))× below the ceiling; \(report.tasksClaimedByMe) claimed here)"
        )
        print("  raw bulk INSERT, event-sized rows \(rate(report.rawEventInsertsPerSecond))")
        print(
            "  monitor queue append (50 a batch) \(rate(report.eventAppendsPerSecond))  (\(String(format: "%.1f", report.rawEventInsertsPerSecond / report.eventAppendsPerSecond))× below the ceiling)"
        )
        print("  monitor queue consume (500 a batch)\(rate(report.eventConsumesPerSecond))")
    }
}
