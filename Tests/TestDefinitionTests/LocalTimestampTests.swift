import Foundation
import Testing

@testable import TestDefinition

/// Step times read a minute at a time are the times the formatter reads
/// (also across daylight saving: `TZ=Europe/Berlin` runs the changes).
@Suite struct LocalTimestampTests {
    static let formatter: DateFormatter = {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = .current
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return formatter
    }()

    @Test(arguments: [
        "2026-12-06 05:06:56", "2026-12-06 05:06:00", "2026-12-06 05:06:59", "2026-03-29 01:59:59", "2026-03-29 03:00:01",
        "2026-10-25 02:30:15", "2026-03-29 02:30:45", "1999-12-31 23:59:59", "2000-01-01 00:00:00",
    ])
    func aTimeReadsAsTheFormatterReadsIt(text: String) {
        var reader = LocalTimestamp()
        // Twice: the second from the minute already read.
        #expect(reader.date(from: text) == Self.formatter.date(from: text))
        #expect(reader.date(from: text) == Self.formatter.date(from: text))
        #expect(reader.date(from: " \(text)\n") == Self.formatter.date(from: text), "XML whitespace around it")
    }

    @Test func millisecondsAreAddedAndTheMinuteIsReadOnce() throws {
        var reader = LocalTimestamp()
        let base = try #require(Self.formatter.date(from: "2026-12-06 05:06:00"))
        #expect(reader.date(from: "2026-12-06 05:06:07.250") == base.addingTimeInterval(7.25))
        #expect(reader.date(from: "2026-12-06 05:06:59.999") == base.addingTimeInterval(59.999))
        #expect(reader.date(from: "2026-12-06 05:07:00") == base.addingTimeInterval(60))
    }

    @Test(arguments: ["2026-12-06 05:06:60", "2026-1-6 05:06:07", "2026-12-06T05:06:07", "yesterday", "", "2026-12-06 05:06:0x"])
    func otherTextIsTheFormattersToJudge(text: String) {
        var reader = LocalTimestamp()
        #expect(reader.date(from: text) == Self.formatter.date(from: text))
    }
}
