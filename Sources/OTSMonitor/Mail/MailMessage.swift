import Foundation

/// An e-mail as SMTP carries it (RFC 5322 with MIME): a plain-text body,
/// and attachments. Everything is 7-bit on the wire (base64), so any
/// server takes it; header text outside ASCII is an encoded word.
struct MailMessage: Sendable, Hashable {
    struct Attachment: Sendable, Hashable {
        var name: String
        var contentType: String
        var content: [UInt8]
    }

    var from: String
    var to: [String]
    var subject: String
    var body: String
    var attachments: [Attachment] = []
    /// Ties the mail to its testrun (`<ID@ots>`).
    var messageID: String
    var date: Date = Date()

    /// The message, lines ending in CRLF, before dot-stuffing.
    func rendered(boundary: String = "ots-" + UUID().uuidString) -> String {
        var lines = [
            "From: \(from)",
            "To: \(to.joined(separator: ", "))",
            "Subject: \(Self.headerText(subject))",
            "Date: \(Self.rfc5322(date))",
            "Message-ID: \(messageID)",
            "MIME-Version: 1.0",
            "Auto-Submitted: auto-generated",
        ]
        let text =
            [
                "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: base64", "",
            ] + Self.base64Lines(Array(body.utf8))
        if attachments.isEmpty {
            lines += text
        } else {
            lines += ["Content-Type: multipart/mixed; boundary=\"\(boundary)\"", "", "This is a MIME message.", "--\(boundary)"]
            lines += text
            for attachment in attachments {
                lines += [
                    "--\(boundary)",
                    "Content-Type: \(attachment.contentType); name=\"\(attachment.name)\"",
                    "Content-Disposition: attachment; filename=\"\(attachment.name)\"",
                    "Content-Transfer-Encoding: base64",
                    "",
                ]
                lines += Self.base64Lines(attachment.content)
            }
            lines.append("--\(boundary)--")
        }
        return lines.joined(separator: "\r\n") + "\r\n"
    }

    /// What goes after DATA: the message with lines that start with a dot
    /// doubled (RFC 5321 4.5.2), and the final `.`.
    func dataSection() -> String {
        rendered().split(separator: "\r\n", omittingEmptySubsequences: false).dropLast()
            .map { $0.hasPrefix(".") ? "." + $0 : String($0) }.joined(separator: "\r\n") + "\r\n.\r\n"
    }

    static func base64Lines(_ bytes: [UInt8]) -> [String] {
        let text = Data(bytes).base64EncodedString()
        return stride(from: 0, to: text.count, by: 76).map { start in
            let from = text.index(text.startIndex, offsetBy: start)
            return String(text[from..<(text.index(from, offsetBy: 76, limitedBy: text.endIndex) ?? text.endIndex)])
        }
    }

    /// A header's text: as it is when printable ASCII, else an encoded
    /// word (RFC 2047, base64). Line breaks never get through.
    static func headerText(_ text: String) -> String {
        let flat = text.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ")
        if flat.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value < 0x7F }) { return flat }
        return "=?utf-8?B?" + Data(flat.utf8).base64EncodedString() + "?="
    }

    static func rfc5322(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        return formatter.string(from: date)
    }
}
