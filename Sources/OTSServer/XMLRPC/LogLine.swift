import Foundation
import OTSCore

/// One line of `latest_logs`, as the original OTS gave them: `(run_id,
/// date, module, levelname, message)`, made from an event of the farm.
struct LogLine: Sendable, Hashable {
    var runID: String
    /// `YYYY-MM-DD HH:MM:SS,mmm`, UTC (Python logging's `asctime`).
    var date: String
    /// Who said it: `host/instance` (a worker instance, or the server).
    var module: String
    /// `INFO`, `WARNING` or `ERROR`.
    var level: String
    var message: String

    /// Heartbeats say nothing a log reader wants; they are left out.
    static let excluded: Set<String> = [EventType.workerHeartbeat.rawValue]

    init(_ event: MonitorEvent) {
        runID = event.testrunID ?? ""
        date = Self.format(event.receivedAt ?? event.emittedAt)
        module = event.sender.workerID
        level = Self.level(of: event)
        var parts = [event.type.rawValue]
        if let task = event.taskID { parts.append("task \(task)" + (event.attempt.map { " attempt \($0)" } ?? "")) }
        if let package = event.package { parts.append("package \(package)") }
        if let set = event.set { parts.append("set \(set)") }
        if let testCase = event.testCase { parts.append("case \(testCase)") }
        if let number = event.tryNumber { parts.append("try \(number)") }
        if let outcome = event.outcome { parts.append(outcome) }
        if let verdict = event.verdict { parts.append(verdict) }
        if let duration = event.durationMs { parts.append(DurationText.seconds(Double(duration) / 1000)) }
        if let error = event.error { parts.append("\(error.category) error: \(error.message)") }
        for (key, value) in (event.details ?? [:]).sorted(by: { $0.key < $1.key }) where key != "plan" && !value.isEmpty {
            parts.append("\(key)=\(value.prefix(300))")
        }
        message = parts.joined(separator: ", ")
    }

    var value: XMLRPCValue { .array([.string(runID), .string(date), .string(module), .string(level), .string(message)]) }

    /// ERROR for errors and ERROR verdicts; WARNING for what went wrong
    /// without an error of its own (FAIL, retries, requeues, offline);
    /// INFO for the rest.
    static func level(of event: MonitorEvent) -> String {
        if event.error != nil || event.type == .failure || event.verdict == Verdict.error.rawValue { return "ERROR" }
        if event.verdict == Verdict.fail.rawValue || event.verdict == "N/A" || event.outcome == "failed" { return "WARNING" }
        switch event.type {
        case .taskRequeued, .workerOffline, .testrunCancelled, .workerRefused, .queueDropped: return "WARNING"
        default: return "INFO"
        }
    }

    static func format(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .nanosecond], from: date)
        return String(
            format: "%04d-%02d-%02d %02d:%02d:%02d,%03d", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0, parts.hour ?? 0,
            parts.minute ?? 0, parts.second ?? 0, (parts.nanosecond ?? 0) / 1_000_000)
    }
}
