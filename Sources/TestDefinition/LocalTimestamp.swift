import Foundation

/// Reads `start` and `end` of results: `yyyy-MM-dd HH:mm:ss` in local time,
/// as the writers produce them, with optional milliseconds (`.SSS`, what
/// workers upload). A results file holds thousands of times, nearly all in
/// a few minutes: each minute is read once with the formatter and its
/// seconds added (a time zone's offset only changes on a minute), which
/// keeps a 10,000-case upload from spending most of its time in ICU.
struct LocalTimestamp {
    private let formatter: DateFormatter = {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = .current
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return formatter
    }()
    /// The start of each minute read, by its text (`yyyy-MM-dd HH:mm`).
    private var minutes: [Substring: Date?] = [:]

    mutating func date(from text: String) -> Date? {
        let trimmed = text.trimmingXMLWhitespace()
        guard let dot = trimmed.lastIndex(of: "."), trimmed.distance(from: dot, to: trimmed.endIndex) == 4,
            let milliseconds = Int(trimmed[trimmed.index(after: dot)...])
        else { return wholeSeconds(trimmed) }
        return wholeSeconds(String(trimmed[..<dot])).map { $0.addingTimeInterval(Double(milliseconds) / 1000) }
    }

    private mutating func wholeSeconds(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        // Exactly `dddd-dd-dd dd:dd:dd`, seconds 0 to 59; anything else is the formatter's to judge.
        guard bytes.count == 19,
            bytes.enumerated().allSatisfy({ index, byte in
                switch index {
                case 4, 7: byte == UInt8(ascii: "-")
                case 10: byte == UInt8(ascii: " ")
                case 13, 16: byte == UInt8(ascii: ":")
                default: byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
                }
            }),
            let seconds = Int(text.suffix(2)), seconds < 60
        else { return formatter.date(from: text) }
        let minute = text.prefix(16)
        if let known = minutes[minute] { return known.map { $0.addingTimeInterval(Double(seconds)) } }
        let start = formatter.date(from: minute + ":00")
        minutes[minute] = start
        return start.map { $0.addingTimeInterval(Double(seconds)) }
    }
}
