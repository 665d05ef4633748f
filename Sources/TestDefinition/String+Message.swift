extension String {
    /// The value as an error message shows it: on one line (line breaks,
    /// tabs and other control characters written as escapes, so the
    /// message stays one `file:line:column: message` line) and cut after
    /// `limit` characters.
    func inMessage(limit: Int = 100) -> String {
        var shown = ""
        var count = 0
        for character in self {
            if count == limit {
                return shown + "… (\(self.count) characters)"
            }
            count += 1
            for scalar in character.unicodeScalars {
                switch scalar {
                case "\n": shown += "\\n"
                case "\r": shown += "\\r"
                case "\t": shown += "\\t"
                case "\u{0}"..."\u{1F}", "\u{7F}"..."\u{9F}", "\u{2028}", "\u{2029}", "\u{85}":
                    shown += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
                default: shown.unicodeScalars.append(scalar)
                }
            }
        }
        return shown
    }
}
