import ArgumentParser
import Foundation
import OTSClient
import OTSCore

/// `ots stats`: the farm over a time window, as tables.
struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats", abstract: "Show the farm's statistics over a time window: testruns, verdicts, workers, errors, phases.")

    @OptionGroup var options: MonitorOptions
    @OptionGroup var span: WindowOptions
    @Option(help: "Only this device group.") var devicegroup: String?
    @Option(help: "Only this worker instance (host/instance).") var worker: String?
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let stats: Statistics
        do {
            stats = try await options.client.statistics(
                window: span.window, since: span.since, until: span.until, deviceGroup: devicegroup, worker: worker)
        } catch {
            throw fail("stats", error)
        }
        if json { return try printJSON(stats) }
        let scope = [devicegroup.map { "device group \($0)" }, worker.map { "worker \($0)" }].compactMap { $0 }
        print("\(span.title(stats.since, stats.until))\(scope.isEmpty ? "" : " (" + scope.joined(separator: ", ") + ")")")
        print("")
        Table(["testruns", "total", "active", "queued"])
            .row(["", String(stats.testruns.total), String(stats.testruns.active), String(stats.testruns.queued)]).print()
        let verdicts = stats.verdicts
        Table(["verdicts", "PASS", "FAIL", "ERROR"])
            .row(["count", String(verdicts.pass), String(verdicts.fail), String(verdicts.error)])
            .row(["ratio", Self.percent(verdicts.passRatio), Self.percent(verdicts.failRatio), Self.percent(verdicts.errorRatio)]).print()
        let workers = stats.workers
        Table(["workers", "online", "busy", "free", "offline"])
            .row(["", String(workers.online), String(workers.busy), String(workers.free), String(workers.offline)]).print()
        var phases = Table(["phase", "count", "median", "p95"])
        for phase in ["queue_wait", "flash", "boot", "test"] {
            let durations = stats.phases[phase]
            phases = phases.row([
                phase, String(durations?.count ?? 0), DurationText.seconds(durations?.median), DurationText.seconds(durations?.p95),
            ])
        }
        phases.print()
        var retries = Table(["retries", "phases", "retries", "rate"])
        for phase in ["flash", "boot"] {
            let value = stats.retries[phase]
            retries = retries.row([phase, String(value?.phases ?? 0), String(value?.retries ?? 0), Self.percent(value?.rate ?? 0)])
        }
        retries.print()
        var categories = Table(["errors by category", "count"])
        for category in ErrorCategory.allCases {
            categories = categories.row([category.rawValue, String(stats.errorsByCategory[category.rawValue] ?? 0)])
        }
        categories.print()
        if let causes = stats.errorsByCause {
            var table = Table(["failures by likely cause", "count"])
            for cause in LikelyCause.Kind.allCases { table = table.row([cause.rawValue, String(causes[cause.rawValue] ?? 0)]) }
            table.print()
        }
        ErrorsCommand.table(stats.commonErrors).print()
        if let health = stats.health, !health.instances.isEmpty { Self.table(health).print() }
    }

    /// The devices' health: each instance, then each device group.
    static func table(_ health: HealthStatistics) -> Table {
        var table = Table([
            "device health", "health", "availability", "tasks", "device failures", "tasks between failures", "health checks passed",
            "time bad",
        ])
        for figures in health.instances + health.groups {
            table = table.row([
                figures.worker ?? "group \(figures.deviceGroup)", figures.health?.rawValue ?? "-", figures.availability.map(percent) ?? "-",
                String(figures.tasks), String(figures.deviceFailures),
                figures.tasksBetweenDeviceFailures.map { String(format: "%.1f", $0) } ?? "-",
                "\(figures.healthChecksPassed)/\(figures.healthChecks)", DurationText.seconds(figures.badSeconds),
            ])
        }
        return table
    }

    static func percent(_ value: Double) -> String { String(format: "%.1f%%", value * 100) }

}

/// `ots errors`: the most common errors, and whose job they are.
struct ErrorsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "errors", abstract: "Show the most common errors over a time window, however they were worded.")

    @OptionGroup var options: MonitorOptions
    @OptionGroup var span: WindowOptions
    @Option(help: "Only this device group.") var devicegroup: String?
    @Option(help: "Only this worker instance (host/instance).") var worker: String?
    @Option(help: "At most this many.") var limit = 20
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let errors: [Statistics.CommonError]
        do {
            errors = try await options.client.commonErrors(
                window: span.window, since: span.since, until: span.until, deviceGroup: devicegroup, worker: worker, limit: limit)
        } catch {
            throw fail("errors", error)
        }
        if json { return try printJSON(["errors": errors]) }
        Self.table(errors).print()
    }

    static func table(_ errors: [Statistics.CommonError]) -> Table {
        var table = Table(["most common errors", "count", "category", "last seen", "workers", "device groups", "images"])
        for error in errors {
            table = table.row([
                String(error.example.prefix(70)), String(error.count), error.category?.rawValue ?? "-",
                error.lastSeen.formatted(.iso8601), error.workers.joined(separator: " "), error.deviceGroups.joined(separator: " "),
                error.images.joined(separator: " "),
            ])
        }
        return table
    }
}

/// A plain text table: a header and rows, columns padded to fit.
struct Table {
    var header: [String]
    var rows: [[String]] = []

    init(_ header: [String]) {
        self.header = header
    }

    func row(_ cells: [String]) -> Table {
        var copy = self
        copy.rows.append(cells)
        return copy
    }

    func print() {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0.indices.contains(column) ? $0[column].count : 0 }.max() ?? 0 }
        for line in all {
            let cells = line.enumerated().map { index, cell in
                index == line.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }
            Swift.print(cells.joined(separator: "  "))
        }
        Swift.print("")
    }
}

/// The time `ots stats` and `ots errors` cover.
struct WindowOptions: ParsableArguments {
    @Option(help: "The window back from now (or from --until): like 90s, 30m, 24h or 7d, from 1m to 365d (default 24h).")
    var window: String?
    @Option(help: "From this time instead (ISO 8601, like 2026-12-01T00:00:00Z).") var since: String?
    @Option(help: "Until this time (ISO 8601; default now).") var until: String?

    /// How the report names its time.
    func title(_ since: Date, _ until: Date) -> String {
        if self.since != nil || self.until != nil { return "from \(since.formatted(.iso8601)) to \(until.formatted(.iso8601))" }
        return "the last \(window ?? "24h")"
    }
}
