/// An error message with its volatile parts normalised, so that the same
/// failure counts once however it is worded.
///
/// Numbers, hexadecimal ids, UUIDs, paths, URLs and network addresses are
/// replaced with placeholders; runs of white space collapse to one space.
///
///     ErrorSignature("flash of /tmp/img-42.bin failed after 3 tries (rc=7)")
///     // "flash of <path> failed after <n> tries (rc=<n>)"
public struct ErrorSignature: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The normalised text.
    public let text: String

    /// Longest signature kept; longer messages are cut, so huge outputs do
    /// not become huge keys.
    public static let maximumLength = 240

    public init(_ message: String) {
        self.text = Self.normalise(message)
    }

    public var description: String { text }

    public init(from decoder: any Decoder) throws {
        text = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(text)
    }

    static func normalise(_ message: String) -> String {
        var tokens: [String] = []
        for rawToken in message.split(whereSeparator: { $0.isWhitespace }) {
            tokens.append(normaliseToken(Substring(rawToken)))
        }
        let joined = tokens.joined(separator: " ")
        if joined.count > maximumLength {
            return String(joined.prefix(maximumLength))
        }
        return joined
    }

    private static let placeholderBoundary: Set<Character> = ["(", ")", "[", "]", "{", "}", "<", ">", "'", "\"", ",", ";", "`"]

    /// Normalises one white-space separated token, keeping surrounding
    /// punctuation so that `(rc=7)` becomes `(rc=<n>)`.
    private static func normaliseToken(_ token: Substring) -> String {
        var prefix = Substring("")
        var core = token
        while let first = core.first, placeholderBoundary.contains(first) {
            prefix.append(first)
            core = core.dropFirst()
        }
        var suffix = ""
        while let last = core.last, placeholderBoundary.contains(last) || last == "." || last == ":" {
            suffix.insert(last, at: suffix.startIndex)
            core = core.dropLast()
        }
        if let equals = core.firstIndex(of: "="), equals != core.startIndex {
            let value = core[core.index(after: equals)...]
            return prefix + core[...equals] + (value.isEmpty ? "" : normaliseToken(value)) + suffix
        }
        if core.contains("://") {
            return prefix + "<url>" + suffix
        }
        if core.hasPrefix("/") || core.hasPrefix("~/") || core.hasPrefix("./") || core.hasPrefix("../") {
            return prefix + "<path>" + suffix
        }
        if isUUID(core) {
            return prefix + "<id>" + suffix
        }
        if isAddress(core) {
            return prefix + "<address>" + suffix
        }
        return prefix + replaceNumbers(in: core) + suffix
    }

    private static func isUUID(_ s: Substring) -> Bool {
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.map(\.count) == [8, 4, 4, 4, 12] else { return false }
        return parts.allSatisfy { $0.allSatisfy(\.isHexDigit) }
    }

    /// IPv4 (optionally with port) or IPv6 with at least two colons.
    private static func isAddress(_ s: Substring) -> Bool {
        let hostPart = s.split(separator: ":", maxSplits: 1).first ?? s
        let octets = hostPart.split(separator: ".", omittingEmptySubsequences: false)
        if octets.count == 4, octets.allSatisfy({ !$0.isEmpty && $0.count <= 3 && $0.allSatisfy(\.isNumber) }) {
            return true
        }
        let colonCount = s.filter { $0 == ":" }.count
        return colonCount >= 2 && s.allSatisfy { $0.isHexDigit || $0 == ":" }
    }

    /// Replaces decimal numbers with `<n>` and long hexadecimal runs (and
    /// `0x` literals) with `<hex>`; letters stay, so `img42` is `img<n>`.
    private static func replaceNumbers(in token: Substring) -> String {
        let characters = Array(token)
        var result = ""
        var i = 0
        while i < characters.count {
            let c = characters[i]
            let atWordStart = i == 0 || !isWordCharacter(characters[i - 1])
            if c == "0", i + 2 < characters.count, characters[i + 1] == "x" || characters[i + 1] == "X",
                characters[i + 2].isHexDigit, atWordStart
            {
                var j = i + 2
                while j < characters.count, characters[j].isHexDigit { j += 1 }
                result += "<hex>"
                i = j
                continue
            }
            if c.isHexDigit, c.isASCII, atWordStart {
                var j = i
                var hasDigit = false
                while j < characters.count, characters[j].isHexDigit, characters[j].isASCII {
                    if characters[j].isNumber { hasDigit = true }
                    j += 1
                }
                let atWordEnd = j == characters.count || !isWordCharacter(characters[j])
                if hasDigit, j - i >= 8, atWordEnd {
                    result += "<hex>"
                    i = j
                    continue
                }
            }
            if c.isASCII, c.isNumber {
                var j = i
                while j < characters.count {
                    if characters[j].isASCII, characters[j].isNumber {
                        j += 1
                    } else if characters[j] == ".", j + 1 < characters.count, characters[j + 1].isASCII,
                        characters[j + 1].isNumber
                    {
                        j += 1
                    } else {
                        break
                    }
                }
                result += "<n>"
                i = j
                continue
            }
            result.append(c)
            i += 1
        }
        return result
    }

    private static func isWordCharacter(_ c: Character) -> Bool {
        c.isLetter || c.isNumber || c == "_"
    }
}
