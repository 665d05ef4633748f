/// One message of a Server-Sent Events stream (`text/event-stream`, the
/// WHATWG format), as the monitor's live stream writes it and the
/// command line reads it.
public struct ServerSentEvent: Sendable, Hashable {
    /// The stream's position of the message (`id:`); a client that comes
    /// back sends the last one it saw as `Last-Event-ID`.
    public var id: String?
    /// `event:`; nil is the default type, `message`.
    public var event: String?
    /// `data:`; lines joined by `\n`.
    public var data: String

    public init(id: String? = nil, event: String? = nil, data: String) {
        self.id = id
        self.event = event
        self.data = data
    }

    /// The message as the stream carries it, blank line included. Line
    /// breaks in the data become `data:` lines of their own.
    public var text: String {
        var text = ""
        if let id { text += "id: \(id)\n" }
        if let event { text += "event: \(event)\n" }
        for line in data.split(separator: "\n", omittingEmptySubsequences: false) { text += "data: \(line)\n" }
        return text + "\n"
    }

    /// `retry:` (how long a client waits before it reconnects), alone.
    public static func retry(milliseconds: Int) -> String { "retry: \(milliseconds)\n\n" }

    /// A comment line, which clients ignore: it keeps an idle connection
    /// from looking dead.
    public static func comment(_ text: String) -> String { ": \(text)\n\n" }
}

extension ServerSentEvent {
    /// Reads messages from the bytes of a stream as they arrive, in any
    /// pieces: lines end with LF, CRLF or CR; a blank line ends a message;
    /// comments and unknown fields are skipped; the last `id` and `retry`
    /// are kept for reconnecting.
    public struct Parser: Sendable {
        /// The last `id:` seen, which stays until another replaces it.
        public private(set) var lastEventID: String?
        /// The last valid `retry:`, in milliseconds.
        public private(set) var retryMilliseconds: Int?
        private var line: [UInt8] = []
        private var afterCR = false
        private var data: [String] = []
        private var event: String?
        private var sawData = false

        public init(lastEventID: String? = nil) {
            self.lastEventID = lastEventID
        }

        /// The messages that `bytes` complete.
        public mutating func feed(_ bytes: some Sequence<UInt8>) -> [ServerSentEvent] {
            var messages: [ServerSentEvent] = []
            for byte in bytes {
                if afterCR {
                    afterCR = false
                    if byte == 0x0A { continue }
                }
                switch byte {
                case 0x0A, 0x0D:
                    afterCR = byte == 0x0D
                    if let message = endLine() { messages.append(message) }
                default:
                    line.append(byte)
                }
            }
            return messages
        }

        private mutating func endLine() -> ServerSentEvent? {
            defer { line.removeAll(keepingCapacity: true) }
            guard !line.isEmpty else { return dispatch() }
            if line.first == UInt8(ascii: ":") { return nil }
            let text = String(decoding: line, as: UTF8.self)
            let field: Substring
            var value: Substring
            if let colon = text.firstIndex(of: ":") {
                field = text[..<colon]
                value = text[text.index(after: colon)...]
                if value.first == " " { value = value.dropFirst() }
            } else {
                field = Substring(text)
                value = ""
            }
            switch field {
            case "data":
                data.append(String(value))
                sawData = true
            case "event": event = String(value)
            case "id" where !value.contains("\0"): lastEventID = String(value)
            case "retry": if let milliseconds = Int(value), milliseconds >= 0 { retryMilliseconds = milliseconds }
            default: break
            }
            return nil
        }

        private mutating func dispatch() -> ServerSentEvent? {
            defer {
                data.removeAll()
                event = nil
                sawData = false
            }
            guard sawData else { return nil }
            return ServerSentEvent(id: lastEventID, event: event, data: data.joined(separator: "\n"))
        }
    }
}
