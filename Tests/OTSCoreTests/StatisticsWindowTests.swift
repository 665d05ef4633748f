import Foundation
import OTSCore
import Testing

@Suite struct StatisticsWindowTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test(
        arguments: [
            ("90s", 90), ("30m", 1800), ("24h", 86_400), ("7d", 604_800), ("15", 15), ("1.5h", 5400), ("soon", nil), ("h", nil),
            ("", nil), ("7w", nil), ("-5m", nil), ("1e3", nil),
        ] as [(String, Double?)])
    func windowsAreSecondsMinutesHoursOrDays(text: String, seconds: Double?) {
        #expect(StatisticsWindow.seconds(text) == seconds)
    }

    @Test func aWindowEndsNowOrAtUntil() throws {
        #expect(try StatisticsWindow.parse(window: nil, since: nil, until: nil, now: now) == .init(since: now - 86_400, until: now))
        #expect(try StatisticsWindow.parse(window: "1m", since: nil, until: nil, now: now) == .init(since: now - 60, until: now))
        #expect(try StatisticsWindow.parse(window: "365d", since: nil, until: nil, now: now).since == now - 365 * 86_400)
        let until = try StatisticsWindow.parse(window: "2h", since: nil, until: "2027-01-01T00:00:00Z", now: now)
        #expect(until.until == Date(timeIntervalSince1970: 1_798_761_600))
        #expect(until.since == until.until - 7200)
        let range = try StatisticsWindow.parse(window: nil, since: "2026-12-01T00:00:00Z", until: "2026-12-02T12:30:00.500Z", now: now)
        #expect(range.since == Date(timeIntervalSince1970: 1_796_083_200))
        #expect(range.until == Date(timeIntervalSince1970: 1_796_214_600.5))
    }

    @Test(
        arguments: [
            ("59s", nil, nil, "window"), ("366d", nil, nil, "window"), ("soon", nil, nil, "window"),
            ("24h", "2026-12-01T00:00:00Z", nil, "window"), (nil, "yesterday", nil, "since"), (nil, nil, "2026-13-01T00:00:00Z", "until"),
            (nil, "2026-12-02T00:00:00Z", "2026-12-01T00:00:00Z", "since"), (nil, "2024-01-01T00:00:00Z", "2026-01-01T00:00:00Z", "since"),
            (nil, "1999-01-01T00:00:00Z", "1999-02-01T00:00:00Z", "until"),
        ] as [(String?, String?, String?, String)])
    func aWrongWindowNamesItsField(window: String?, since: String?, until: String?, field: String) {
        #expect {
            try StatisticsWindow.parse(window: window, since: since, until: until, now: now)
        } throws: { error in
            guard let problem = error as? StatisticsWindow.Problem else { return false }
            return problem.field == field && problem.message.hasPrefix(field + ":")
        }
    }
}
