import Foundation
import TestDefinition

/// Reads the measurement and series files that test steps write and `get`
/// fetches, in testrunner-lite's formats.
///
/// A measurement file has one measurement a line:
/// `name;value;unit` or `name;value;unit;target;failure`, a trailing `;`
/// allowed. A series file starts with `name;unit` or
/// `name;unit;target;failure`, followed by one point a line: `value`, or
/// `timestamp;value` with the timestamp as `YYYY-MM-DDThh:mm:ss[.frac]`
/// (local time) or ISO 8601 with a zone. Blank lines, lines starting with
/// white space and lines starting with `#` are skipped.
public enum MeasurementFile {
    public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        public var file: String
        public var line: Int
        public var message: String

        public var description: String { "\(file):\(line): \(message)" }
    }

    public static func measurements(in text: String, file: String) throws(ParseError) -> [TestMeasurement] {
        var result: [TestMeasurement] = []
        for (lineNumber, line) in lines(text) {
            let fields = self.fields(line)
            guard fields.count == 3 || fields.count == 5 else {
                throw ParseError(
                    file: file,
                    line: lineNumber,
                    message: "expected name;value;unit or name;value;unit;target;failure, found \(fields.count) fields"
                )
            }
            guard !fields[0].isEmpty else {
                throw ParseError(file: file, line: lineNumber, message: "the measurement has no name")
            }
            let value = try number(fields[1], "value", file: file, line: lineNumber)
            var target: Double?
            var failure: Double?
            if fields.count == 5 {
                target = try number(fields[3], "target", file: file, line: lineNumber)
                failure = try number(fields[4], "failure", file: file, line: lineNumber)
            }
            result.append(TestMeasurement(name: fields[0], value: value, unit: fields[2], target: target, failure: failure))
        }
        return result
    }

    public static func series(in text: String, file: String) throws(ParseError) -> MeasurementSeries {
        var all = lines(text)
        guard !all.isEmpty else {
            throw ParseError(file: file, line: 1, message: "the series file is empty; it starts with name;unit")
        }
        let (headerLine, header) = all.removeFirst()
        let fields = self.fields(header)
        guard fields.count == 2 || fields.count == 4, !fields[0].isEmpty else {
            throw ParseError(file: file, line: headerLine, message: "a series starts with name;unit or name;unit;target;failure")
        }
        var series = MeasurementSeries(name: fields[0], unit: fields[1])
        if fields.count == 4 {
            series.target = try number(fields[2], "target", file: file, line: headerLine)
            series.failure = try number(fields[3], "failure", file: file, line: headerLine)
        }
        let timestamps = TimestampReader()
        for (lineNumber, line) in all {
            let parts = self.fields(line)
            switch parts.count {
            case 1:
                series.points.append(.init(value: try number(parts[0], "value", file: file, line: lineNumber)))
            case 2:
                guard let timestamp = timestamps.date(parts[0]) else {
                    throw ParseError(file: file, line: lineNumber, message: "'\(parts[0])' is not a timestamp (YYYY-MM-DDThh:mm:ss)")
                }
                series.points.append(
                    .init(value: try number(parts[1], "value", file: file, line: lineNumber), timestamp: timestamp)
                )
            default:
                throw ParseError(file: file, line: lineNumber, message: "a series point is value or timestamp;value")
            }
        }
        return series
    }

    /// Reads series timestamps: `YYYY-MM-DDThh:mm:ss[.frac]` in local time,
    /// or ISO 8601 with a zone. Made once per file, not once per line.
    struct TimestampReader {
        let iso = ISO8601DateFormatter()
        let isoFractional: ISO8601DateFormatter = {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            return formatter
        }()
        let local: DateFormatter = {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = .current
            formatter.dateFormat = "yyyy-MM-dd'T'HH:mm:ss"
            return formatter
        }()

        func date(_ text: String) -> Date? {
            if let date = iso.date(from: text) ?? isoFractional.date(from: text) { return date }
            let parts = text.split(separator: ".", maxSplits: 1)
            guard let whole = local.date(from: String(parts[0])) else { return nil }
            guard parts.count == 2 else { return whole }
            guard parts[1].allSatisfy(\.isNumber), let fraction = Double("0." + parts[1]) else { return nil }
            return whole.addingTimeInterval(fraction)
        }
    }

    /// The `;`-separated fields of a line, trimmed; a trailing `;` ends the
    /// line rather than opening an empty field.
    private static func fields(_ line: String) -> [String] {
        var fields = line.split(separator: ";", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        if fields.count > 1, fields.last == "" { fields.removeLast() }
        return fields
    }

    private static func number(_ text: String, _ field: String, file: String, line: Int) throws(ParseError) -> Double {
        guard let value = Double(text), value.isFinite else {
            throw ParseError(file: file, line: line, message: "\(field) '\(text)' is not a number")
        }
        return value
    }

    private static func lines(_ text: String) -> [(Int, String)] {
        text.split(separator: "\n", omittingEmptySubsequences: false).enumerated().compactMap { index, line in
            guard let first = line.first, !first.isWhitespace, first != "#" else { return nil }
            return (index + 1, line.trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }
}
