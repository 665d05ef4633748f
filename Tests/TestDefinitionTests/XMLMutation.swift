import PropertyBased

/// One change to a valid document that may break it: to its tree (an
/// element deleted, duplicated, moved or renamed, an attribute set to a
/// strange value, a strange child, deep nesting, a DTD) or to its bytes
/// (truncated, a bit flipped, invalid UTF-8).
///
/// Positions are drawn at random and taken modulo what the document has,
/// so one mutation fits any document.
enum XMLMutation: Sendable, Hashable, CustomStringConvertible {
    case deleteElement(Int)
    case duplicateElement(Int)
    case swapChildren(Int, Int, Int)
    case setAttribute(Int, name: String, value: String)
    case removeAttribute(Int, Int)
    case renameElement(Int, String)
    case insertChild(Int, position: Int, FuzzNode.Child)
    /// Wraps the element's children in `depth` nested elements.
    case nest(Int, depth: Int, name: String)
    /// Replaces what comes before the root element.
    case prolog(String)
    /// Appends something after the root element.
    case epilog(String)
    case truncate(Int)
    case flipBit(Int, bit: Int)
    case setByte(Int, UInt8)
    case insertBytes(Int, [UInt8])
    case deleteBytes(Int, count: Int)
    case duplicateBytes(Int, count: Int)

    var isByteLevel: Bool {
        switch self {
        case .truncate, .flipBit, .setByte, .insertBytes, .deleteBytes, .duplicateBytes: true
        default: false
        }
    }

    var description: String {
        func short(_ text: String) -> String {
            let escaped = text.debugDescription
            return escaped.count > 120 ? String(escaped.prefix(120)) + "…\" (\(text.count) characters)" : escaped
        }
        switch self {
        case .deleteElement(let at): return "delete element #\(at)"
        case .duplicateElement(let at): return "duplicate element #\(at)"
        case .swapChildren(let at, let a, let b): return "swap children \(a) and \(b) of element #\(at)"
        case .setAttribute(let at, let name, let value): return "set \(name)=\(short(value)) on element #\(at)"
        case .removeAttribute(let at, let which): return "remove attribute \(which) of element #\(at)"
        case .renameElement(let at, let name): return "rename element #\(at) to <\(name)>"
        case .insertChild(let at, let position, let child): return "insert \(short("\(child)")) at \(position) in element #\(at)"
        case .nest(let at, let depth, let name): return "nest the children of element #\(at) in \(depth) <\(name)>"
        case .prolog(let text): return "prolog \(short(text))"
        case .epilog(let text): return "epilog \(short(text))"
        case .truncate(let at): return "truncate at byte \(at)"
        case .flipBit(let at, let bit): return "flip bit \(bit) of byte \(at)"
        case .setByte(let at, let byte): return "set byte \(at) to 0x\(String(byte, radix: 16))"
        case .insertBytes(let at, let bytes):
            return "insert \(bytes.prefix(16).map { String($0, radix: 16) }) (\(bytes.count) bytes) at \(at)"
        case .deleteBytes(let at, let count): return "delete \(count) bytes at \(at)"
        case .duplicateBytes(let at, let count): return "duplicate \(count) bytes at \(at)"
        }
    }

    /// Applies a tree mutation (a byte mutation does nothing here).
    func apply(to root: inout FuzzNode, prolog: inout String, epilog: inout String) {
        let paths = root.elementPaths
        func path(_ index: Int) -> [Int] { paths[index % paths.count] }
        switch self {
        case .deleteElement(let at):
            let target = path(at)
            guard let last = target.last else { return }
            root.modify(at: target.dropLast()[...]) { $0.children.remove(at: last) }
        case .duplicateElement(let at):
            let target = path(at)
            guard let last = target.last else { return }
            root.modify(at: target.dropLast()[...]) { $0.children.insert($0.children[last], at: last) }
        case .swapChildren(let at, let a, let b):
            root.modify(at: path(at)[...]) { node in
                guard node.children.count > 1 else { return }
                node.children.swapAt(a % node.children.count, b % node.children.count)
            }
        case .setAttribute(let at, let name, let value):
            root.modify(at: path(at)[...]) { $0.set(name, value) }
        case .removeAttribute(let at, let which):
            root.modify(at: path(at)[...]) { node in
                guard !node.attributes.isEmpty else { return }
                node.attributes.remove(at: which % node.attributes.count)
            }
        case .renameElement(let at, let name):
            root.modify(at: path(at)[...]) { $0.name = name }
        case .insertChild(let at, let position, let child):
            root.modify(at: path(at)[...]) { $0.children.insert(child, at: position % ($0.children.count + 1)) }
        case .nest(let at, let depth, let name):
            // Written out as text: a tree this deep would take the test's
            // own stack.
            root.modify(at: path(at)[...]) { node in
                let inner = node.content
                let depth = max(depth, 1)
                node.children = [.raw(String(repeating: "<\(name)>", count: depth) + inner + String(repeating: "</\(name)>", count: depth))]
            }
        case .prolog(let text): prolog = text
        case .epilog(let text): epilog = text
        default: break
        }
    }

    /// Applies a byte mutation (a tree mutation does nothing here).
    func apply(to bytes: inout [UInt8]) {
        func position(_ at: Int) -> Int { bytes.isEmpty ? 0 : at % bytes.count }
        switch self {
        case .truncate(let at): bytes = Array(bytes.prefix(at % (bytes.count + 1)))
        case .flipBit(let at, let bit): if !bytes.isEmpty { bytes[position(at)] ^= 1 << UInt8(bit % 8) }
        case .setByte(let at, let byte): if !bytes.isEmpty { bytes[position(at)] = byte }
        case .insertBytes(let at, let inserted): bytes.insert(contentsOf: inserted, at: at % (bytes.count + 1))
        case .deleteBytes(let at, let count):
            let start = position(at)
            bytes.removeSubrange(start..<min(bytes.count, start + count))
        case .duplicateBytes(let at, let count):
            let start = position(at)
            bytes.insert(contentsOf: bytes[start..<min(bytes.count, start + count)], at: start)
        default: break
        }
    }

    /// The document the mutations make of a tree, as bytes.
    static func apply(_ mutations: [XMLMutation], to root: FuzzNode, prolog: String) -> [UInt8] {
        var root = root
        var prolog = prolog
        var epilog = "\n"
        for mutation in mutations where !mutation.isByteLevel {
            mutation.apply(to: &root, prolog: &prolog, epilog: &epilog)
        }
        var bytes = Array((prolog + root.xml + epilog).utf8)
        for mutation in mutations where mutation.isByteLevel {
            mutation.apply(to: &bytes)
        }
        return bytes
    }
}

/// Values that have broken parsers: what the generators draw from.
enum FuzzValues {
    /// Values for numeric attributes (timeout, expected_result,
    /// bugzilla_id, value, target...) and for anything else.
    static let numbers = [
        "0", "1", "-1", "+5", " 7 ", "007", "65535", "65536", "-0", "2147483648", "9223372036854775807", "9223372036854775808",
        "-9223372036854775808", "-9223372036854775809", "99999999999999999999999999999999999999", "1e3", "1.5", "-1.5e-300", "1e309",
        "NaN", "nan", "INF", "-INF", "inf", "infinity", "0x10", "1_000", "١٢", "１２", "½", "", " ", "\t\n", "true", "maybe",
    ]
    static let words = [
        "", " ", "x", "true", "false", "1", "send", "wait", "string", "number", "PASS", "FAIL", "N/A", "Ready", "reboot",
        "Functional positive", "unknown", "hardware", "a&b", "<tag>", "\"quoted\"", "'single'", "]]>", "line\nbreak", "tab\there",
        "cr\rhere", "crlf\r\nhere", "é", "日本語", "🙂", "e\u{301}", "\u{202E}rtl", "\u{FEFF}bom", "\u{FFFD}", "%s%n", "../../etc/passwd",
        "$(reboot)", "`id`", "\u{7F}",
    ]
    static var values: [String] { numbers + words }

    static let attributeNames = [
        "name", "version", "timeout", "expected_result", "bugzilla_id", "manual", "insignificant", "type", "level", "resource",
        "control", "state", "delete_after", "measurement", "series", "result", "value", "target", "failure", "interval", "unit",
        "environment", "description", "TC_ID", "hwid", "command", "timestamp", "group", "interval_unit", "colour", "xmlns", "xmlns:x",
        "x:name", "a-b", "_",
    ]
    static let elementNames = [
        "testdefinition", "suite", "set", "case", "step", "pre_steps", "post_steps", "post_reboot_steps", "event", "param", "get", "file",
        "environments", "description", "hwiddetect", "testresults", "measurement", "series", "expected_result", "return_code", "start",
        "end", "stdout", "stderr", "unknown", "x:step", "rich_core_uuid",
    ]
    /// Children that are not plain elements: markup that parsers
    /// mishandle.
    static let rawChildren = [
        "<!-- a comment -->", "<!-- -- -->", "<?pi data?>", "<?xml version=\"1.0\"?>", "&amp;", "&#0;", "&#xD800;", "&#x110000;",
        "&#65;", "&#x1F642;", "&undefined;", "&lt;&gt;", "]]>", "<", "&", ">", "<![CDATA[x]]>", "<![CDATA[unterminated", "<!ENTITY x 'y'>",
        "<!DOCTYPE x>", "\u{0}", "\u{1}", "\u{FFFE}", "<a b='1' b='2'/>", "<a b=1/>", "<a/ >", "</nope>", "<x:y xmlns:x='u'/>",
        "<p:q/>", "<step>", "</step>",
    ]
    static let prologs = [
        "", "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", "\u{FEFF}<?xml version=\"1.0\"?>\n", "<?xml version=\"1.1\"?>\n",
        "<?xml version=\"2.0\"?>\n", "<?xml version=\"1.0\" encoding=\"UTF-16\"?>\n", "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n",
        "<?xml version=\"1.0\" encoding=\"bogus\"?>\n", "<?xml version=\"1.0\" encoding=\"EBCDIC-US\"?>\n",
        "<?xml version=\"1.0\" standalone=\"maybe\"?>\n", "  <?xml version=\"1.0\"?>\n", "<?xml?>", "<!-- first -->\n",
        "<!DOCTYPE testdefinition>\n", "<!DOCTYPE testdefinition [<!ENTITY cmd \"echo hi\">]>\n",
        "<!DOCTYPE testdefinition [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">]>\n",
        "<!DOCTYPE testdefinition SYSTEM \"file:///etc/passwd\">\n",
        "<!DOCTYPE testdefinition [<!ENTITY % p SYSTEM \"file:///etc/passwd\"> %p;]>\n",
        "<!DOCTYPE testdefinition [<!ENTITY secret SYSTEM \"file:///etc/hostname\">]>\n",
        "<!DOCTYPE testdefinition [<!ATTLIST step expected_result CDATA \"3\">]>\n",
        "<!DOCTYPE testdefinition [<!ELEMENT testdefinition ANY>]>\n", "<!DOCTYPE testdefinition [\n", "<!doctype testdefinition>\n",
        "<!DOCTYPE testdefinition [<!NOTATION n SYSTEM \"x\">]>\n",
    ]
    static let epilogs = ["", "\n", "<!-- after -->", "<testdefinition/>", "text after", "\u{0}", "<?pi after?>"]

    /// Byte sequences that are not UTF-8, or are surprising in it.
    static let strangeBytes: [[UInt8]] = [
        [0xFF], [0xFE, 0xFF], [0xC3, 0x28], [0xC0, 0xAF], [0xE0, 0x80, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80],
        [0xF8, 0x88, 0x80, 0x80, 0x80], [0x80], [0xE2, 0x82], [0x00], [0xEF, 0xBB, 0xBF], [0xEF, 0xBF, 0xBE], [0x0D],
        [0x1B, 0x5B, 0x32, 0x4A],
    ]
}

extension XMLMutation {
    /// A long string: a long command, a long name.
    private static func long(_ length: Int) -> String {
        String(repeating: "long-text-", count: length / 10)
    }

    private static func value(_ dice: Dice) -> String {
        switch dice.int(0...9) {
        case 0: long(dice.int(1000...200_000))
        case 1: dice.one(of: FuzzValues.values) + dice.one(of: FuzzValues.values)
        default: dice.one(of: FuzzValues.values)
        }
    }

    private static func child(_ dice: Dice) -> FuzzNode.Child {
        switch dice.int(0...4) {
        case 0: .text(value(dice))
        case 1: .cdata(value(dice))
        case 2: .element(FuzzNode(dice.one(of: FuzzValues.elementNames), [(dice.one(of: FuzzValues.attributeNames), value(dice))]))
        default: .raw(dice.one(of: FuzzValues.rawChildren))
        }
    }

    /// One mutation of any kind.
    static let any = Dice.generator { dice -> XMLMutation in
        let at = Gen.int(in: 0...1_000_000)
        switch dice.int(0...15) {
        case 0: return .deleteElement(dice.draw(at))
        case 1: return .duplicateElement(dice.draw(at))
        case 2: return .swapChildren(dice.draw(at), dice.draw(at), dice.draw(at))
        case 3, 4: return .setAttribute(dice.draw(at), name: dice.one(of: FuzzValues.attributeNames), value: value(dice))
        case 5: return .removeAttribute(dice.draw(at), dice.draw(at))
        case 6: return .renameElement(dice.draw(at), dice.one(of: FuzzValues.elementNames))
        case 7: return .insertChild(dice.draw(at), position: dice.draw(at), child(dice))
        case 8:
            let depth = dice.one(of: [2, 10, 100, 250, 251, 252, 256, 257, 1000, 20_000])
            return .nest(dice.draw(at), depth: depth, name: dice.one(of: FuzzValues.elementNames))
        case 9: return .prolog(dice.one(of: FuzzValues.prologs))
        case 10: return .epilog(dice.one(of: FuzzValues.epilogs))
        case 11: return .truncate(dice.draw(at))
        case 12: return .flipBit(dice.draw(at), bit: dice.int(0...7))
        case 13: return .setByte(dice.draw(at), UInt8(dice.int(0...255)))
        case 14: return .insertBytes(dice.draw(at), dice.one(of: FuzzValues.strangeBytes))
        default:
            let count = dice.int(1...64)
            return dice.bool() ? .deleteBytes(dice.draw(at), count: count) : .duplicateBytes(dice.draw(at), count: count)
        }
    }

    /// One to four mutations.
    static let some = any.array(of: 1...4)
}
