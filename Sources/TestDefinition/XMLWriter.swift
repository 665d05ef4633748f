/// Builds an indented XML document as text.
///
/// Text and attribute values are escaped, and characters that XML 1.0 does
/// not allow (most control characters, unpaired surrogates) are replaced
/// with U+FFFD, so any process output can go into a valid document.
public struct XMLWriter {
    public private(set) var output = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    private var open: [String] = []

    public init() {}

    public mutating func start(_ name: String, _ attributes: KeyValuePairs<String, String?> = [:]) {
        start(name, attributes.map { ($0.key, $0.value) })
    }

    /// Opens an element; attributes with a nil value are left out.
    mutating func start(_ name: String, _ attributes: [(String, String?)]) {
        indent()
        output += "<" + name
        appendAttributes(attributes)
        output += ">\n"
        open.append(name)
    }

    public mutating func end() {
        let name = open.removeLast()
        indent()
        output += "</" + name + ">\n"
    }

    /// An element with only attributes.
    public mutating func empty(_ name: String, _ attributes: KeyValuePairs<String, String?> = [:]) {
        indent()
        output += "<" + name
        appendAttributes(attributes)
        output += "/>\n"
    }

    /// An element with text content (written as is, not indented, since
    /// white space in text is significant).
    public mutating func text(_ name: String, _ text: String, _ attributes: KeyValuePairs<String, String?> = [:]) {
        indent()
        output += "<" + name
        appendAttributes(attributes)
        output += ">"
        output += Self.escape(text, quotes: false)
        output += "</" + name + ">\n"
    }

    private mutating func appendAttributes(_ attributes: KeyValuePairs<String, String?>) {
        appendAttributes(attributes.map { ($0.key, $0.value) })
    }

    private mutating func appendAttributes(_ attributes: [(String, String?)]) {
        for (key, value) in attributes {
            guard let value else { continue }
            output += " " + key + "=\"" + Self.escape(value, quotes: true) + "\""
        }
    }

    private mutating func indent() {
        output += String(repeating: "  ", count: open.count)
    }

    /// Escapes text for XML, replacing characters XML cannot carry.
    static func escape(_ text: String, quotes: Bool) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"" where quotes: result += "&quot;"
            case "\n" where quotes: result += "&#10;"
            case "\r": result += "&#13;"
            case "\t" where quotes: result += "&#9;"
            default:
                if isAllowed(scalar) {
                    result.unicodeScalars.append(scalar)
                } else {
                    result.unicodeScalars.append("\u{FFFD}")
                }
            }
        }
        return result
    }

    /// XML 1.0's `Char` production.
    static func isAllowed(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x9, 0xA, 0xD: true
        case 0x20...0xD7FF: true
        case 0xE000...0xFFFD: true
        case 0x10000...0x10FFFF: true
        default: false
        }
    }
}
