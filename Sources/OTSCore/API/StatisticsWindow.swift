import Foundation

/// The time a statistics request covers: `window` back from `until` (now
/// by default), or `since` to `until` (ISO 8601). Statistics count every
/// rollup bucket the window overlaps.
public struct StatisticsWindow: Sendable, Hashable {
    public var since: Date
    public var until: Date

    /// The shortest and longest `window`.
    public static let shortest: TimeInterval = 60
    public static let longest: TimeInterval = 365 * 86_400
    /// The longest `since` to `until`: as long as rollups are kept by default.
    public static let longestRange: TimeInterval = 400 * 86_400

    public init(since: Date, until: Date) {
        self.since = since
        self.until = until
    }

    /// Why a request's window cannot be one, naming the field.
    public struct Problem: Error, Sendable, Hashable {
        public var field: String
        public var message: String
    }

    /// The window of `window` (like `90s`, `30m`, `24h`, `7d`; 24h when
    /// neither it nor `since` is given), `since` and `until`.
    public static func parse(window: String?, since: String?, until: String?, now: Date = Date()) throws(Problem) -> StatisticsWindow {
        let end = try until.map { text throws(Problem) in try date(text, field: "until") } ?? now
        if let since {
            if window != nil {
                throw Problem(field: "window", message: "window: give either window or since, not both")
            }
            let start = try date(since, field: "since")
            guard start < end else {
                throw Problem(field: "since", message: "since: must be before until (\(end.formatted(.iso8601)))")
            }
            guard end.timeIntervalSince(start) <= longestRange else {
                throw Problem(field: "since", message: "since: at most 400 days before until")
            }
            return StatisticsWindow(since: start, until: end)
        }
        let text = window ?? "24h"
        guard let seconds = Self.seconds(text), seconds >= shortest, seconds <= longest else {
            throw Problem(
                field: "window", message: "window: '\(text.prefix(20))' is not a window like 90s, 30m, 24h or 7d, from 1m to 365d")
        }
        return StatisticsWindow(since: end.addingTimeInterval(-seconds), until: end)
    }

    /// Seconds in `90`, `90s`, `30m`, `24h` or `7d`.
    public static func seconds(_ text: String) -> Double? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
        var number = Substring(text)
        var unit = 1.0
        if let last = text.last, let factor = units[last] {
            number = text.dropLast()
            unit = factor
        }
        guard !number.isEmpty, number.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }), let value = Double(number) else {
            return nil
        }
        return value * unit
    }

    static func date(_ text: String, field: String) throws(Problem) -> Date {
        let fractional = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
        if let date = try? Date(text, strategy: fractional) ?? Date(text, strategy: .iso8601) {
            guard MonitorEvent.Limits.emittedAt.contains(date) else {
                throw Problem(field: field, message: "\(field): must be from 2000-01-01 to 9999-12-31")
            }
            return date
        }
        throw Problem(
            field: field, message: "\(field): '\(text.prefix(40))' is not an ISO 8601 time like 2026-12-06T10:00:00Z")
    }
}
