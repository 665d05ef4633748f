/// Checks one element against the schema's rules while its model is built,
/// collecting every problem instead of stopping at the first.
struct SchemaReader {
    private(set) var errors: [DefinitionError] = []

    mutating func error(_ element: XMLElement, _ message: String) {
        error(at: element.location, message)
    }

    mutating func error(at location: SourceLocation, _ message: String) {
        errors.append(DefinitionError(.schema, at: location, message))
    }

    /// Reports attributes the element may not carry.
    mutating func checkAttributes(_ element: XMLElement, allowed: Set<String>) {
        for name in element.attributes.keys.sorted() where !allowed.contains(name) {
            error(element, "unknown attribute '\(name)' on <\(element.name)>")
        }
    }

    /// Reports child elements the element may not hold.
    mutating func checkChildren(_ element: XMLElement, allowed: Set<String>) {
        for child in element.children where !allowed.contains(child.name) {
            if allowed.isEmpty {
                error(child, "<\(element.name)> holds text only, not <\(child.name)>")
            } else {
                error(child, "unknown element <\(child.name)> in <\(element.name)>")
            }
        }
    }

    /// Reports non-blank text in an element that holds only elements.
    mutating func checkNoText(_ element: XMLElement) {
        if element.hasText {
            error(element, "<\(element.name)> may not hold text")
        }
    }

    /// Reports a child element given more often than allowed.
    mutating func checkAtMostOnce(_ element: XMLElement, child name: String) {
        let found = element.children.filter { $0.name == name }
        if found.count > 1 {
            error(found[1], "<\(element.name)> may hold only one <\(name)>")
        }
    }

    /// The general attributes of a suite, set or case.
    mutating func generalAttributes(_ element: XMLElement) -> GeneralAttributes {
        GeneralAttributes(
            name: required(element, "name"),
            description: element.attributes["description"],
            requirement: element.attributes["requirement"],
            timeout: positiveInteger(element, "timeout"),
            type: element.attributes["type"],
            level: element.attributes["level"],
            domain: element.attributes["domain"],
            feature: element.attributes["feature"],
            component: element.attributes["component"],
            manual: boolean(element, "manual"),
            insignificant: boolean(element, "insignificant"),
            hwid: element.attributes["hwid"]
        )
    }

    mutating func required(_ element: XMLElement, _ attribute: String) -> String {
        guard let value = element.attributes[attribute] else {
            error(element, "<\(element.name)> is missing the required attribute '\(attribute)'")
            return ""
        }
        return value
    }

    mutating func boolean(_ element: XMLElement, _ attribute: String) -> Bool? {
        guard let raw = element.attributes[attribute] else { return nil }
        switch raw.trimmingXMLWhitespace() {
        case "true", "1": return true
        case "false", "0": return false
        default:
            error(element, "attribute '\(attribute)' of <\(element.name)> must be true or false, not '\(raw.inMessage())'")
            return nil
        }
    }

    mutating func positiveInteger(_ element: XMLElement, _ attribute: String) -> Int? {
        guard let raw = element.attributes[attribute] else { return nil }
        let trimmed = raw.trimmingXMLWhitespace()
        let digits = trimmed.hasPrefix("+") ? String(trimmed.dropFirst()) : trimmed
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(digits), value > 0 else {
            error(element, "attribute '\(attribute)' of <\(element.name)> must be a positive integer, not '\(raw.inMessage())'")
            return nil
        }
        return value
    }

    mutating func unsignedShort(_ element: XMLElement, _ attribute: String) -> Int? {
        guard let raw = element.attributes[attribute] else { return nil }
        let trimmed = raw.trimmingXMLWhitespace()
        let digits = trimmed.hasPrefix("+") ? String(trimmed.dropFirst()) : trimmed
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(digits), value <= 65535
        else {
            error(element, "attribute '\(attribute)' of <\(element.name)> must be an integer from 0 to 65535, not '\(raw.inMessage())'")
            return nil
        }
        return value
    }

    mutating func enumeration<T: RawRepresentable>(_ element: XMLElement, _ attribute: String, _ type: T.Type) -> T?
    where T.RawValue == String, T: CaseIterable {
        guard let raw = element.attributes[attribute] else { return nil }
        if let value = T(rawValue: raw.trimmingXMLWhitespace()) {
            return value
        }
        let allowed = T.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ")
        error(element, "attribute '\(attribute)' of <\(element.name)> must be one of \(allowed), not '\(raw.inMessage())'")
        return nil
    }
}

extension String {
    /// The string without leading and trailing XML white space
    /// (space, tab, carriage return, line feed).
    func trimmingXMLWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }
        guard let first = firstIndex(where: { !isSpace($0) }) else { return "" }
        let last = lastIndex(where: { !isSpace($0) })!
        return String(self[first...last])
    }
}
