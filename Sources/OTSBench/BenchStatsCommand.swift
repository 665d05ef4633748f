import ArgumentParser
import Foundation
import Logging
import OTSCore
import OTSStore

/// `ots bench stats`: the statistics query over a large event store.
struct BenchStatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Measure the monitor's statistics query over many stored events (default one million).",
        discussion: "Fills a new database (a new SQLite file, or the empty PostgreSQL database given) and times the query."
    )

    @Option(help: "The database: sqlite:///path or postgres://... (default: a new SQLite file). Use an empty database.")
    var database: String?

    @Option(help: "Events to store first.")
    var events = 1_000_000

    @Option(help: "Times each query runs.")
    var repetitions = 5

    func validate() throws {
        guard events > 0, repetitions > 0 else { throw ValidationError("--events and --repetitions must be positive") }
    }

    func run() async throws {
        var logger = Logger(label: "ots.bench")
        logger.logLevel = .warning
        let folder = FileManager.default.temporaryDirectory.path + "/ots-bench-stats-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let url = try database.map(parseDatabaseURL) ?? .sqlite(path: folder + "/ots.sqlite")
        let store = try await Store.open(url, logger: logger)
        let report: StatisticsBenchmark.Report
        do {
            report = try await StatisticsBenchmark(events: events, repetitions: repetitions).run(on: store) { printError("… \($0)") }
        } catch {
            await store.close()
            throw error
        }
        await store.close()
        func median(_ values: [Double]) -> String { String(format: "%.3f s", Percentiles(values).median ?? 0) }
        print(
            "statistics over \(events) stored events on \(store.dialect.rawValue) (\(url)); filled in \(String(format: "%.1f", report.fillSeconds)) s"
        )
        print("  whole farm, 24 h     median \(median(report.farm))  (min \(String(format: "%.3f", report.farm.first!)) s)")
        print("  one device group     median \(median(report.deviceGroup))")
        print("  one worker           median \(median(report.worker))")
    }
}
