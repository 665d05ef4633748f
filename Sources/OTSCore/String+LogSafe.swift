extension String {
    /// Whether the text holds a control character (CR, LF, tab, ESC, DEL,
    /// and the C1 controls).
    public var containsControlCharacters: Bool {
        unicodeScalars.contains { $0.properties.generalCategory == .control }
    }

    /// The text with every control character written as an escape (`\n`,
    /// `\r`, `\t`, `\u{1B}`), so that a value a client sent can neither
    /// split a log line nor forge one.
    public var logSafe: String {
        guard containsControlCharacters else { return self }
        var escaped = ""
        escaped.reserveCapacity(utf8.count)
        for scalar in unicodeScalars {
            switch scalar {
            case "\n": escaped += "\\n"
            case "\r": escaped += "\\r"
            case "\t": escaped += "\\t"
            case _ where scalar.properties.generalCategory == .control:
                escaped += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return escaped
    }
}
