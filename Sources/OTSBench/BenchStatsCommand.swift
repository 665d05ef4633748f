import ArgumentParser
import Foundation
import Logging
import OTSCore
import OTSStore

/// `ots bench stats`: the statistics queries over a large event store.
struct BenchStatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Measure the monitor's statistics queries over many stored events (default one million).",
        discussion: """
            Fills a new database (a new SQLite file, or the empty PostgreSQL database given) through the monitor's own \
            store path, rollups and all, to each size of --events in turn, and times each statistics query there \
            (median and p95 of --repetitions).
            """
    )

    @Option(help: "The database: sqlite:///path or postgres://... (default: a new SQLite file). Use an empty database.")
    var database: String?

    @Option(help: "Events to store, or several sizes (1000000,10000000), each measured when reached.")
    var events = "1000000"

    @Option(help: "Times each query runs.")
    var repetitions = 20

    @Flag(help: "Print JSON.")
    var json = false

    var sizes: [Int] { events.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    func validate() throws {
        let sizes = self.sizes
        guard !sizes.isEmpty, sizes.count == events.split(separator: ",").count, sizes.allSatisfy({ $0 > 0 }) else {
            throw ValidationError("--events: positive numbers of events, separated by commas (1000000,10000000)")
        }
        guard repetitions > 0 else { throw ValidationError("--repetitions must be positive") }
    }

    struct Report: Encodable {
        var engine: String
        var runs: [StatisticsBenchmark.Run]
    }

    func run() async throws {
        var logger = Logger(label: "ots.bench")
        logger.logLevel = .warning
        let folder = FileManager.default.temporaryDirectory.path + "/ots-bench-stats-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let url = try database.map(parseDatabaseURL) ?? .sqlite(path: folder + "/ots.sqlite")
        let store = try await Store.open(url, logger: logger)
        let runs: [StatisticsBenchmark.Run]
        do {
            runs = try await StatisticsBenchmark(sizes: sizes, repetitions: repetitions).run(on: store) { printError("… \($0)") }
        } catch {
            await store.close()
            throw error
        }
        await store.close()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(Report(engine: store.dialect.rawValue, runs: runs)), as: UTF8.self))
            return
        }
        print("statistics on \(store.dialect.rawValue) (\(url)), \(repetitions) times each")
        for run in runs {
            print(
                String(
                    format: "  %d events (filled in %.1f s, %.0f events/s)", run.events, run.fillSeconds,
                    Double(run.events) / run.fillSeconds))
            for query in run.queries {
                print(
                    "    \(query.name.padding(toLength: 20, withPad: " ", startingAt: 0)) median \(String(format: "%6.1f", query.medianSeconds * 1000)) ms  p95 \(String(format: "%6.1f", query.p95Seconds * 1000)) ms"
                )
            }
        }
    }
}
