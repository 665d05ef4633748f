import Foundation

/// The JSON of monitor events written and read directly, without
/// `Codable`'s containers: events are the farm's bulk (every step of every
/// testrun), and each crosses JSON four times on its way to the event
/// store (the worker's batch, the server's reading of it, the queue
/// message, the monitor's reading of that). docs/benchmarks.md has what
/// it gained.
///
/// The writer writes what `JSONCoding.encoder()` writes (sorted keys, the
/// same escapes and dates). The reader takes the JSON that writer and
/// well-behaved senders write; for anything else (an unknown key, a
/// duplicate key, a number with a fraction, a value of the wrong type, a
/// missing field, JSON that is not valid) it gives up and returns nil,
/// so that `JSONDecoder` decides, with its error naming the field. Dates
/// go through `JSONCoding`'s own format and parse, so both paths give the
/// same `Date`.
extension MonitorEvent {
    /// The event's JSON, as `JSONCoding.encoder()` writes it.
    public var json: String {
        var writer = JSONWriter()
        writer.write(self)
        return writer.string
    }

    /// The event of JSON `MonitorEvent.json` or a sender wrote; nil when
    /// it is anything `JSONDecoder` has to judge (see the type's notes).
    public static func fromJSON(_ text: String) -> MonitorEvent? {
        var text = text
        return text.withUTF8(read)
    }

    /// The event of JSON text, by `fromJSON` where it can and by
    /// `JSONCoding.decoder()` (with its errors) where it cannot.
    public static func decodeJSON(_ text: String) throws -> MonitorEvent {
        try fromJSON(text) ?? JSONCoding.decoder().decode(MonitorEvent.self, from: Data(text.utf8))
    }

    /// The event of JSON bytes, as `decodeJSON` reads text.
    public static func decodeJSON(_ data: Data) throws -> MonitorEvent {
        try data.withUnsafeBytes { read($0.bindMemory(to: UInt8.self)) }
            ?? JSONCoding.decoder().decode(MonitorEvent.self, from: data)
    }

    private static func read(_ bytes: UnsafeBufferPointer<UInt8>) -> MonitorEvent? {
        var reader = JSONReader(bytes)
        guard let event = reader.event(), reader.atEnd() else { return nil }
        return event
    }
}

extension EventBatch {
    /// The batch's JSON (`{"events":[...]}`), as `JSONCoding.encoder()` writes it.
    public var json: String {
        var writer = JSONWriter()
        writer.raw("{\"events\":[")
        for (index, event) in events.enumerated() {
            if index > 0 { writer.raw(",") }
            writer.write(event)
        }
        writer.raw("]}")
        return writer.string
    }

    /// The batch of JSON bytes by the direct reader; nil when it is
    /// anything `JSONDecoder` has to judge (`MonitorEvent`'s notes).
    public static func fromJSON(_ data: Data) -> EventBatch? {
        data.withUnsafeBytes { raw -> EventBatch? in
            var reader = JSONReader(raw.bindMemory(to: UInt8.self))
            guard let batch = reader.batch(), reader.atEnd() else { return nil }
            return batch
        }
    }
}

/// Writes JSON text into a byte buffer.
struct JSONWriter {
    private(set) var bytes: [UInt8] = []

    init() { bytes.reserveCapacity(512) }

    var string: String { String(decoding: bytes, as: UTF8.self) }

    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// A key and its colon, after a comma unless it is the object's first.
    private mutating func key(_ name: StaticString, first: inout Bool) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        first = false
        raw("\"")
        raw(name)
        raw("\":")
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    mutating func string(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): raw("\\\"")
            case UInt8(ascii: "\\"): raw("\\\\")
            case 0x08: raw("\\b")
            case 0x0C: raw("\\f")
            case 0x0A: raw("\\n")
            case 0x0D: raw("\\r")
            case 0x09: raw("\\t")
            case 0..<0x20:
                raw("\\u00")
                bytes.append(Self.hex[Int(byte >> 4)])
                bytes.append(Self.hex[Int(byte & 0x0F)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    mutating func integer(_ value: some BinaryInteger) {
        bytes.append(contentsOf: String(value).utf8)
    }

    mutating func date(_ value: Date) {
        string(value.formatted(JSONCoding.format))
    }

    /// A member when there is a value (a value that is always there, too).
    private mutating func optional(_ name: StaticString, _ value: String?, first: inout Bool) {
        guard let value else { return }
        key(name, first: &first)
        string(value)
    }

    private mutating func optional(_ name: StaticString, _ value: (some BinaryInteger)?, first: inout Bool) {
        guard let value else { return }
        key(name, first: &first)
        integer(value)
    }

    /// The event, its keys in the sorted order `JSONCoding` writes.
    mutating func write(_ event: MonitorEvent) {
        var first = true
        bytes.append(UInt8(ascii: "{"))
        optional("attempt", event.attempt, first: &first)
        optional("case", event.testCase, first: &first)
        if let details = event.details {
            key("details", first: &first)
            bytes.append(UInt8(ascii: "{"))
            for (index, name) in details.keys.sorted(by: JSONCoding.keyOrder).enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                string(name)
                bytes.append(UInt8(ascii: ":"))
                string(details[name] ?? "")
            }
            bytes.append(UInt8(ascii: "}"))
        }
        optional("duration_ms", event.durationMs, first: &first)
        key("emitted_at", first: &first)
        date(event.emittedAt)
        if let error = event.error {
            key("error", first: &first)
            var inner = true
            bytes.append(UInt8(ascii: "{"))
            optional("category", error.category.rawValue, first: &inner)
            optional("message", error.message, first: &inner)
            optional("signature", error.signature, first: &inner)
            bytes.append(UInt8(ascii: "}"))
        }
        key("id", first: &first)
        string(event.id)
        optional("outcome", event.outcome, first: &first)
        optional("package", event.package, first: &first)
        if let receivedAt = event.receivedAt {
            key("received_at", first: &first)
            date(receivedAt)
        }
        key("sender", first: &first)
        var inner = true
        bytes.append(UInt8(ascii: "{"))
        optional("host", event.sender.host, first: &inner)
        optional("instance", event.sender.instance, first: &inner)
        optional("pid", event.sender.pid, first: &inner)
        optional("version", event.sender.version, first: &inner)
        bytes.append(UInt8(ascii: "}"))
        optional("set", event.set, first: &first)
        optional("task_id", event.taskID, first: &first)
        optional("testrun_id", event.testrunID, first: &first)
        optional("try", event.tryNumber, first: &first)
        key("type", first: &first)
        string(event.type.rawValue)
        optional("verdict", event.verdict, first: &first)
        key("version", first: &first)
        integer(event.version)
        bytes.append(UInt8(ascii: "}"))
    }
}

extension JSONCoding {
    /// The order `JSONEncoder`'s sorted keys put object keys in: their
    /// UTF-8 bytes.
    static func keyOrder(_ a: String, _ b: String) -> Bool {
        a.utf8.lexicographicallyPrecedes(b.utf8)
    }
}

/// Reads the JSON of events; every method returns nil where it gives up.
struct JSONReader {
    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    private mutating func skipSpace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    /// Only white space is left.
    mutating func atEnd() -> Bool {
        skipSpace()
        return index == bytes.count
    }

    /// Consumes `byte` (after white space) when it is next.
    private mutating func take(_ byte: UInt8) -> Bool {
        skipSpace()
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    /// Consumes `null` when it is next.
    private mutating func null() -> Bool {
        skipSpace()
        guard index + 4 <= bytes.count, bytes[index] == UInt8(ascii: "n"), bytes[index + 1] == UInt8(ascii: "u"),
            bytes[index + 2] == UInt8(ascii: "l"), bytes[index + 3] == UInt8(ascii: "l")
        else { return false }
        index += 4
        return true
    }

    /// What comes next in an object.
    enum Member {
        /// A member's key (its colon consumed): its bytes as written.
        case key(UnsafeBufferPointer<UInt8>)
        case end
        case invalid
    }

    /// Starts an object.
    private mutating func beginObject() -> Bool { take(UInt8(ascii: "{")) }

    /// The next member of an object begun with `beginObject`; `first`
    /// tells whether one was read before.
    private mutating func member(first: inout Bool) -> Member {
        if take(UInt8(ascii: "}")) { return .end }
        if first {
            first = false
        } else if !take(UInt8(ascii: ",")) {
            return .invalid
        }
        guard let key = rawKey(), take(UInt8(ascii: ":")) else { return .invalid }
        return .key(key)
    }

    /// A key's bytes; nil (give up) for a key with escapes.
    private mutating func rawKey() -> UnsafeBufferPointer<UInt8>? {
        guard take(UInt8(ascii: "\"")) else { return nil }
        let start = index
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                return UnsafeBufferPointer(rebasing: bytes[start..<index - 1])
            }
            if byte == UInt8(ascii: "\\") || byte < 0x20 { return nil }
            index += 1
        }
        return nil
    }

    /// The position of `key` among `names`.
    private static func position(of key: UnsafeBufferPointer<UInt8>, in names: [[UInt8]]) -> Int? {
        names.firstIndex { $0.count == key.count && $0.elementsEqual(key) }
    }

    /// Marks key `position` as seen; false when it was seen before.
    private static func firstTime(_ position: Int, _ seen: inout UInt32) -> Bool {
        let bit: UInt32 = 1 << UInt32(position)
        guard seen & bit == 0 else { return false }
        seen |= bit
        return true
    }

    mutating func string() -> String? {
        guard take(UInt8(ascii: "\"")) else { return nil }
        let start = index
        // The common case: no escapes, the bytes as they are.
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let text = String(validating: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
                index += 1
                return text
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { return nil }
            index += 1
        }
        var decoded = Array(bytes[start..<index])
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(validating: decoded, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard index < bytes.count else { return nil }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): decoded.append(escape)
                case UInt8(ascii: "b"): decoded.append(0x08)
                case UInt8(ascii: "f"): decoded.append(0x0C)
                case UInt8(ascii: "n"): decoded.append(0x0A)
                case UInt8(ascii: "r"): decoded.append(0x0D)
                case UInt8(ascii: "t"): decoded.append(0x09)
                case UInt8(ascii: "u"):
                    guard var scalar = hex4() else { return nil }
                    if (0xD800..<0xDC00).contains(scalar) {
                        // A high surrogate: its low one must follow.
                        guard take(UInt8(ascii: "\\")), index < bytes.count, bytes[index] == UInt8(ascii: "u") else { return nil }
                        index += 1
                        guard let low = hex4(), (0xDC00..<0xE000).contains(low) else { return nil }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { return nil }
                    decoded.append(contentsOf: String(Character(unicode)).utf8)
                default: return nil
                }
            case 0..<0x20: return nil
            default: decoded.append(byte)
            }
        }
        return nil
    }

    private mutating func hex4() -> UInt32? {
        guard index + 4 <= bytes.count else { return nil }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            index += 1
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    /// An integer without fraction or exponent, in range of `T`.
    mutating func integer<T: FixedWidthInteger>(_: T.Type) -> T? {
        skipSpace()
        let negative = index < bytes.count && bytes[index] == UInt8(ascii: "-")
        if negative { index += 1 }
        let start = index
        var value: T = 0
        while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) {
            let digit = T(bytes[index] - UInt8(ascii: "0"))
            let (times, overflow) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = negative ? times.subtractingReportingOverflow(digit) : times.addingReportingOverflow(digit)
            guard !overflow, !overflow2 else { return nil }
            value = next
            index += 1
        }
        let digits = index - start
        // No digits, a leading zero, or a fraction or exponent: JSONDecoder's.
        guard digits > 0, !(digits > 1 && bytes[start] == UInt8(ascii: "0")) else { return nil }
        if index < bytes.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(bytes[index]) { return nil }
        return value
    }

    private mutating func date() -> Date? {
        guard let text = string() else { return nil }
        return JSONCoding.date(text)
    }

    /// A string or null: `.some(nil)` for null, nil to give up.
    private mutating func nullableString() -> String?? {
        if null() { return .some(nil) }
        return string().map { .some($0) }
    }

    private mutating func nullableInteger<T: FixedWidthInteger>(_ type: T.Type) -> T?? {
        if null() { return .some(nil) }
        return integer(type).map { .some($0) }
    }

    static let eventKeys: [[UInt8]] = [
        "id", "type", "version", "emitted_at", "sender", "received_at", "testrun_id", "task_id", "package", "set", "case", "verdict",
        "outcome", "attempt", "try", "duration_ms", "error", "details",
    ].map { Array($0.utf8) }

    mutating func event() -> MonitorEvent? {
        var id: String?
        var type: String?
        var version: Int?
        var emittedAt: Date?
        var sender: MonitorEvent.Sender?
        var event = MonitorEvent(id: "", type: "", sender: MonitorEvent.Sender(host: "", instance: "", pid: 0, version: ""))
        let read = members(of: Self.eventKeys) { reader, position in
            switch position {
            case 0: id = reader.string()
            case 1: type = reader.string()
            case 2: version = reader.integer(Int.self)
            case 3: emittedAt = reader.date()
            case 4: sender = reader.sender()
            case 5:
                if reader.null() { return true }
                guard let date = reader.date() else { return false }
                event.receivedAt = date
            case 6...12:
                guard let value = reader.nullableString() else { return false }
                switch position {
                case 6: event.testrunID = value
                case 7: event.taskID = value
                case 8: event.package = value
                case 9: event.set = value
                case 10: event.testCase = value
                case 11: event.verdict = value
                default: event.outcome = value
                }
            case 13:
                guard let value = reader.nullableInteger(Int.self) else { return false }
                event.attempt = value
            case 14:
                guard let value = reader.nullableInteger(Int.self) else { return false }
                event.tryNumber = value
            case 15:
                guard let value = reader.nullableInteger(Int64.self) else { return false }
                event.durationMs = value
            case 16:
                if reader.null() { return true }
                guard let failure = reader.failure() else { return false }
                event.error = failure
            default:
                if reader.null() { return true }
                guard let details = reader.details() else { return false }
                event.details = details
            }
            return true
        }
        guard read else { return nil }
        guard let id, let type, let version, let emittedAt, let sender else { return nil }
        event.id = id
        event.type = EventType(rawValue: type)
        event.version = version
        event.emittedAt = emittedAt
        event.sender = sender
        return event
    }

    /// Reads the members of an object whose keys are among `keys`, each
    /// once: `value` reads the value of the key at the position given.
    /// False (give up) for anything else.
    private mutating func members(of keys: [[UInt8]], _ value: (inout JSONReader, Int) -> Bool) -> Bool {
        var seen: UInt32 = 0
        var first = true
        guard beginObject() else { return false }
        while true {
            switch member(first: &first) {
            case .invalid: return false
            case .end: return true
            case .key(let key):
                guard let position = Self.position(of: key, in: keys), Self.firstTime(position, &seen), value(&self, position) else {
                    return false
                }
            }
        }
    }

    static let senderKeys: [[UInt8]] = ["host", "instance", "pid", "version"].map { Array($0.utf8) }

    private mutating func sender() -> MonitorEvent.Sender? {
        var host: String?
        var instance: String?
        var pid: Int32?
        var version: String?
        let read = members(of: Self.senderKeys) { reader, position in
            switch position {
            case 0: host = reader.string()
            case 1: instance = reader.string()
            case 2: pid = reader.integer(Int32.self)
            default: version = reader.string()
            }
            return true
        }
        guard read, let host, let instance, let pid, let version else { return nil }
        return MonitorEvent.Sender(host: host, instance: instance, pid: pid, version: version)
    }

    static let failureKeys: [[UInt8]] = ["category", "message", "signature"].map { Array($0.utf8) }

    private mutating func failure() -> MonitorEvent.Failure? {
        var category: ErrorCategory?
        var message: String?
        var signature: String??
        let read = members(of: Self.failureKeys) { reader, position in
            switch position {
            case 0: category = reader.string().flatMap(ErrorCategory.init(rawValue:))
            case 1: message = reader.string()
            default:
                signature = reader.nullableString()
                return signature != nil
            }
            return true
        }
        guard read, let category, let message else { return nil }
        var failure = MonitorEvent.Failure(category: category, message: message)
        // Absent or null, it is computed (as `Failure`'s decoding does).
        if case .some(.some(let signature)) = signature { failure.signature = signature }
        return failure
    }

    private mutating func details() -> [String: String]? {
        guard beginObject() else { return nil }
        var details: [String: String] = [:]
        if take(UInt8(ascii: "}")) { return details }
        repeat {
            guard let key = string(), take(UInt8(ascii: ":")), details[key] == nil, let value = string() else { return nil }
            details[key] = value
        } while take(UInt8(ascii: ","))
        return take(UInt8(ascii: "}")) ? details : nil
    }

    mutating func batch() -> EventBatch? {
        var first = true
        guard beginObject(), case .key(let key) = member(first: &first), key.elementsEqual("events".utf8), take(UInt8(ascii: "[")) else {
            return nil
        }
        var events: [MonitorEvent] = []
        if !take(UInt8(ascii: "]")) {
            repeat {
                guard let event = event() else { return nil }
                events.append(event)
            } while take(UInt8(ascii: ","))
            guard take(UInt8(ascii: "]")) else { return nil }
        }
        guard take(UInt8(ascii: "}")) else { return nil }
        return EventBatch(events: events)
    }
}
