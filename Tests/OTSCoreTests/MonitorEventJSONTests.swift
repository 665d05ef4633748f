import Foundation
import Testing

@testable import OTSCore

/// The direct JSON of monitor events against `Codable`'s: the same text
/// written, the same event read, and `JSONDecoder` deciding (with its
/// errors) whatever the direct reader does not take.
@Suite struct MonitorEventJSONTests {
    /// Seeded, so that a failure repeats.
    typealias SplitMix = SplitMix64

    /// Text with what JSON must escape, what it need not, and more than ASCII.
    static let pieces = [
        "a", "Z", "0", "9", "10", "_", "-", ".", "/", " ", "\"", "\\", "\n", "\r", "\t", "\u{08}", "\u{0C}", "\u{01}", "\u{1F}",
        "\u{7F}", "é", "ß", "Ω", "日本", "\u{2028}", "\u{2029}", "😀", "👍🏽", "\u{FEFF}", "x9", "x10", "B", "b",
    ]

    static func text(_ random: inout SplitMix, maxPieces: Int = 6) -> String {
        (0..<Int.random(in: 0...maxPieces, using: &random)).map { _ in pieces.randomElement(using: &random)! }.joined()
    }

    static func maybe<T>(_ random: inout SplitMix, _ value: (inout SplitMix) -> T) -> T? {
        Bool.random(using: &random) ? value(&random) : nil
    }

    static func event(_ random: inout SplitMix) -> MonitorEvent {
        let sender = MonitorEvent.Sender(
            host: text(&random), instance: text(&random), pid: Int32.random(in: Int32.min...Int32.max, using: &random),
            version: text(&random))
        // Any millisecond from 2000 to 9999, and some with a part of one.
        let millis = Double(Int64.random(in: 946_684_800_000...253_402_300_799_000, using: &random))
        let fraction = Bool.random(using: &random) ? Double.random(in: 0..<1, using: &random) : 0
        var event = MonitorEvent(
            id: UUID().uuidString.lowercased(), type: EventType(rawValue: text(&random)),
            emittedAt: Date(timeIntervalSince1970: (millis + fraction) / 1000), sender: sender)
        event.version = Int.random(in: Int.min...Int.max, using: &random)
        event.receivedAt = maybe(&random) { random in Date(timeIntervalSince1970: Double.random(in: 9.5e8...2.5e11, using: &random)) }
        event.testrunID = maybe(&random) { random in text(&random) }
        event.taskID = maybe(&random) { random in text(&random) }
        event.attempt = maybe(&random) { random in Int.random(in: Int.min...Int.max, using: &random) }
        event.package = maybe(&random) { random in text(&random) }
        event.set = maybe(&random) { random in text(&random) }
        event.testCase = maybe(&random) { random in text(&random) }
        event.verdict = maybe(&random) { random in text(&random) }
        event.durationMs = maybe(&random) { random in Int64.random(in: Int64.min...Int64.max, using: &random) }
        event.tryNumber = maybe(&random) { random in Int.random(in: -5...5, using: &random) }
        event.outcome = maybe(&random) { random in text(&random) }
        event.error = maybe(&random) { random in
            MonitorEvent.Failure(category: ErrorCategory.allCases.randomElement(using: &random)!, message: text(&random, maxPieces: 20))
        }
        event.details = maybe(&random) { random in
            var details: [String: String] = [:]
            for _ in 0..<Int.random(in: 0...6, using: &random) { details[text(&random, maxPieces: 3)] = text(&random) }
            return details
        }
        return event
    }

    static func decoded(_ json: String) throws -> MonitorEvent {
        try JSONCoding.decoder().decode(MonitorEvent.self, from: Data(json.utf8))
    }

    @Test func writesWhatTheEncoderWrites() throws {
        var random = SplitMix(seed: 19)
        var differ = 0
        for _ in 0..<3000 {
            let event = Self.event(&random)
            let expected = try JSONCoding.string(event)
            if event.json != expected {
                differ += 1
                if differ <= 3 { Issue.record("wrote \(event.json), not \(expected)") }
            }
        }
        #expect(differ == 0)
    }

    @Test func readsWhatTheDecoderReads() throws {
        var random = SplitMix(seed: 23)
        for _ in 0..<3000 {
            let json = try JSONCoding.string(Self.event(&random))
            let fast = try #require(MonitorEvent.fromJSON(json), "not read: \(json)")
            #expect(fast == (try Self.decoded(json)))
        }
    }

    @Test func batchesAreWrittenAndReadAsTheCodersDo() throws {
        var random = SplitMix(seed: 29)
        for size in [0, 1, 7, 100] {
            let batch = EventBatch(events: (0..<size).map { _ in Self.event(&random) })
            #expect(batch.json == (try JSONCoding.string(batch)))
            let decoded = try JSONCoding.decoder().decode(EventBatch.self, from: Data(batch.json.utf8))
            #expect(EventBatch.fromJSON(Data(batch.json.utf8)) == decoded)
        }
        #expect(EventBatch.fromJSON(Data(#"{"events":[], "more": 1}"#.utf8)) == nil)
        #expect(EventBatch.fromJSON(Data(#"{"events":[{"id":"x"}]}"#.utf8)) == nil)
    }

    /// JSON another sender may write: spaces, escapes the writer does not
    /// use, nulls for what is absent, no signature.
    @Test(arguments: [
        #"  { "id" : "a\/b" , "type":"case.finished","version":1,"emitted_at":"2026-12-08T01:02:03.456Z", "sender":{"host":"h","instance":"i","pid":7,"version":"1"} }  "#,
        #"{"id":"\u00e9\ud83d\ude00\n","type":"t","version":-0,"emitted_at":"2026-12-08T01:02:03Z","sender":{"version":"1","pid":0,"instance":"i","host":"h"},"attempt":null,"task_id":null,"details":null,"error":null,"received_at":null}"#,
        #"{"id":"x","type":"failure","version":1,"emitted_at":"2026-12-08T01:02:03.456Z","sender":{"host":"h","instance":"i","pid":1,"version":"1"},"error":{"category":"device","message":"boot 17 failed"}}"#,
        #"{"id":"x","type":"failure","version":1,"emitted_at":"2026-12-08T01:02:03.456Z","sender":{"host":"h","instance":"i","pid":1,"version":"1"},"error":{"category":"device","message":"m","signature":null}}"#,
        #"{"id":"x","type":"t","version":1,"emitted_at":"2026-12-08T01:02:03.456Z","sender":{"host":"h","instance":"i","pid":1,"version":"1"},"details":{},"duration_ms":9223372036854775807,"try":-9223372036854775808}"#,
        #"{"id":"x","type":"t","version":1,"emitted_at":"2026-12-08T03:02:03.456+02:00","sender":{"host":"h","instance":"i","pid":1,"version":"1"}}"#,
    ])
    func readsOtherSendersJSONAsTheDecoderDoes(json: String) throws {
        let fast = try #require(MonitorEvent.fromJSON(json))
        #expect(fast == (try Self.decoded(json)))
    }

    /// What the direct reader leaves to `JSONDecoder`: it gives up, and
    /// `decodeJSON` answers as `JSONDecoder` does (an event or its error).
    @Test(arguments: [
        // Valid, but not the reader's: an unknown key, a duplicate key, a
        // key with an escape, a number with a fraction or an exponent.
        #"{"id":"x","type":"t","version":1,"emitted_at":"2026-12-08T01:02:03.456Z","sender":{"host":"h","instance":"i","pid":1,"version":"1"},"future":true}"#,
        #"{"id":"x","id":"y","type":"t","version":1,"emitted_at":"2026-12-08T01:02:03.456Z","sender":{"host":"h","instance":"i","pid":1,"version":"1"}}"#,
        #"{"\u0069d":"x","type":"t","version":1,"emitted_at":"2026-12-08T01:02:03.456Z","sender":{"host":"h","instance":"i","pid":1,"version":"1"}}"#,
        #"{"id":"x","type":"t","version":1,"emitted_at":"2026-12-08T01:02:03.456Z","sender":{"host":"h","instance":"i","pid":1,"version":"1","pid":2}}"#,
        #"{"id":"x","type":"t","version":1.0,"emitted_at":"2026-12-08T01:02:03.456Z","sender":{"host":"h","instance":"i","pid":1,"version":"1"}}"#,
        #"{"id":"x","type":"t","version":1,"attempt":1e2,"emitted_at":"2026-12-08T01:02:03.456Z","sender":{"host":"h","instance":"i","pid":1,"version":"1"}}"#,
        // Not an event: a wrong type, a missing field, out of range, an
        // unknown category, a lone surrogate.
        #"{"id":"x","type":5,"version":1,"emitted_at":"2026-12-08T01:02:03.456Z","sender":{"host":"h","instance":"i","pid":1,"version":"1"}}"#,
        #"{"id":"x","type":"t","version":1,"emitted_at":"2026-12-08T01:02:03.456Z"}"#,
        #"{"id":"x","type":"t","version":1,"emitted_at":"2026-12-08T01:02:03.456Z","sender":{"host":"h","instance":"i","pid":99999999999,"version":"1"}}"#,
        #"{"id":"x","type":"t","version":1,"emitted_at":"2026-12-08T01:02:03.456Z","sender":{"host":"h","instance":"i","pid":1,"version":"1"},"error":{"category":"weather","message":"m"}}"#,
        #"{"id":"\ud83d","type":"t","version":1,"emitted_at":"2026-12-08T01:02:03.456Z","sender":{"host":"h","instance":"i","pid":1,"version":"1"}}"#,
        #"{"id":"x","type":"t","version":1,"emitted_at":"yesterday","sender":{"host":"h","instance":"i","pid":1,"version":"1"}}"#,
        #"{"id":"x","type":"t","version":01,"emitted_at":"2026-12-08T01:02:03.456Z","sender":{"host":"h","instance":"i","pid":1,"version":"1"}}"#,
        // Not JSON: a trailing comma, an open string, more after the object,
        // a raw control character in a string.
        #"{"id":"x","type":"t","version":1,"emitted_at":"2026-12-08T01:02:03.456Z","sender":{"host":"h","instance":"i","pid":1,"version":"1"},}"#,
        #"{"id":"x"#,
        #"{"id":"x","type":"t","version":1,"emitted_at":"2026-12-08T01:02:03.456Z","sender":{"host":"h","instance":"i","pid":1,"version":"1"}} {"#,
        "{\"id\":\"a\u{01}b\",\"type\":\"t\",\"version\":1,\"emitted_at\":\"2026-12-08T01:02:03.456Z\",\"sender\":{\"host\":\"h\",\"instance\":\"i\",\"pid\":1,\"version\":\"1\"}}",
    ])
    func leavesTheRestToTheDecoder(json: String) throws {
        #expect(MonitorEvent.fromJSON(json) == nil)
        let expected = Result { try Self.decoded(json) }
        let answered = Result { try MonitorEvent.decodeJSON(Data(json.utf8)) }
        switch (expected, answered) {
        case (.success(let expected), .success(let answered)): #expect(expected == answered)
        case (.failure(let expected), .failure(let answered)): #expect("\(expected)" == "\(answered)")
        default: Issue.record("JSONDecoder: \(expected), decodeJSON: \(answered)")
        }
    }

    /// Hostile bytes never crash the reader: every cut of a valid batch and
    /// seeded random damage to it are either read as `JSONDecoder` reads
    /// them or left to it.
    @Test func cutOrDamagedBatchesAreReadAsTheDecoderReadsThemOrLeftToIt() throws {
        var random = SplitMix(seed: 31)
        let batch = EventBatch(events: (0..<3).map { _ in Self.event(&random) })
        let bytes = Array(batch.json.utf8)
        // Both ways are taken: some damage is read directly, some left.
        var (read, left) = (0, 0)
        func check(_ data: Data) {
            let fast = EventBatch.fromJSON(data)
            if fast == nil { left += 1 } else { read += 1 }
            #expect(fast == nil || fast == (try? JSONCoding.decoder().decode(EventBatch.self, from: data)), "\(String(decoding: data, as: UTF8.self))")
        }
        for end in 0..<bytes.count { check(Data(bytes[0..<end])) }
        let alphabet = Array("{}[]\",:\\0123456789-.eEnul tfrabu".utf8) + [0x00, 0x1F, 0x80, 0xC3, 0xFF]
        for _ in 0..<2000 {
            var damaged = bytes
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                damaged[Int.random(in: 0..<damaged.count, using: &random)] = alphabet.randomElement(using: &random)!
            }
            check(Data(damaged))
        }
        #expect(read > 0 && left > 0, "read \(read), left \(left)")
    }

    @Test func bytesThatAreNotUTF8AreLeftToTheDecoder() {
        var bytes = Array(
            #"{"id":"?","type":"t","version":1,"emitted_at":"2026-12-08T01:02:03.456Z","sender":{"host":"h","instance":"i","pid":1,"version":"1"}}"#
                .utf8)
        bytes[7] = 0xFF
        let data = Data(bytes)
        #expect(EventBatch.fromJSON(data) == nil)
        #expect(throws: (any Error).self) { try MonitorEvent.decodeJSON(data) }
        #expect(throws: (any Error).self) { try JSONCoding.decoder().decode(MonitorEvent.self, from: data) }
    }
}
