/// A reply of an SMTP server: its code and its lines (RFC 5321 4.2).
struct SMTPReply: Sendable, Hashable, CustomStringConvertible {
    var code: Int
    var lines: [String]

    var isPositive: Bool { (200..<400).contains(code) }
    /// 4xx: the server may take it later.
    var isTransient: Bool { (400..<500).contains(code) }

    var description: String { "\(code) \(lines.joined(separator: " / ").prefix(300))" }
}

/// Cuts the bytes an SMTP server sends into replies: lines end with CRLF
/// (a bare LF is taken too), `250-` goes on, `250 ` ends. A line too long
/// or without a code is a protocol error, never a crash.
struct SMTPReplyReader: Sendable {
    struct ProtocolError: Error, Sendable, Hashable, CustomStringConvertible {
        var description: String
    }

    /// RFC 5321 allows 512 bytes a reply line; servers send more in EHLO
    /// keyword lists now and then.
    static let maximumLine = 4096

    private var pending: [UInt8] = []
    private var lines: [String] = []
    private var code: Int?

    /// Adds bytes; returns the replies they complete.
    mutating func read(_ bytes: some Sequence<UInt8>) throws(ProtocolError) -> [SMTPReply] {
        var replies: [SMTPReply] = []
        for byte in bytes {
            guard byte == UInt8(ascii: "\n") else {
                pending.append(byte)
                if pending.count > Self.maximumLine {
                    throw ProtocolError(description: "a reply line longer than \(Self.maximumLine) bytes")
                }
                continue
            }
            if pending.last == UInt8(ascii: "\r") { pending.removeLast() }
            let line = String(decoding: pending, as: UTF8.self)
            pending.removeAll(keepingCapacity: true)
            if let reply = try take(line) { replies.append(reply) }
        }
        return replies
    }

    private mutating func take(_ line: String) throws(ProtocolError) -> SMTPReply? {
        let bytes = Array(line.utf8)
        guard bytes.count >= 3, bytes[0..<3].allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
            let number = Int(String(decoding: bytes[0..<3], as: UTF8.self))
        else {
            throw ProtocolError(description: "'\(line.prefix(100))' is not an SMTP reply line")
        }
        if let code, code != number {
            throw ProtocolError(description: "a reply of \(code) went on with \(number)")
        }
        code = number
        let separator = bytes.count > 3 ? bytes[3] : UInt8(ascii: " ")
        lines.append(bytes.count > 4 ? String(decoding: bytes[4...], as: UTF8.self) : "")
        switch separator {
        case UInt8(ascii: "-"):
            guard lines.count < 1000 else { throw ProtocolError(description: "a reply of more than 1000 lines") }
            return nil
        case UInt8(ascii: " "):
            let reply = SMTPReply(code: number, lines: lines)
            lines = []
            code = nil
            return reply
        default:
            throw ProtocolError(description: "'\(line.prefix(100))' is not an SMTP reply line")
        }
    }
}
