import Foundation

@testable import TestDefinition

/// An XML element as the property tests build, mutate and write it.
///
/// Written with an escaper of its own, not the one under test, so a bug in
/// `XMLWriter` cannot hide one in the parsers.
struct FuzzNode: Sendable, Hashable {
    enum Child: Sendable, Hashable {
        case element(FuzzNode)
        /// Character data, escaped when written.
        case text(String)
        case cdata(String)
        /// Written as is: comments, processing instructions, entity
        /// references, broken markup.
        case raw(String)
    }

    var name: String
    var attributes: [Attribute]
    var children: [Child]

    struct Attribute: Sendable, Hashable {
        var name: String
        var value: String
    }

    init(_ name: String, _ attributes: [(String, String)] = [], _ children: [Child] = []) {
        self.name = name
        self.attributes = attributes.map { Attribute(name: $0.0, value: $0.1) }
        self.children = children
    }

    /// The tree the parser under test read, with its text before its
    /// elements (a definition never mixes them).
    init(_ element: XMLElement) {
        self.init(
            element.name, element.attributes.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
            (element.text.isEmpty ? [] : [.text(element.text)]) + element.children.map { .element(FuzzNode($0)) })
    }

    func attribute(_ name: String) -> String? {
        attributes.first { $0.name == name }?.value
    }

    mutating func set(_ name: String, _ value: String) {
        if let index = attributes.firstIndex(where: { $0.name == name }) {
            attributes[index].value = value
        } else {
            attributes.append(Attribute(name: name, value: value))
        }
    }

    var xml: String {
        var output = "<" + name
        for attribute in attributes {
            output += " " + attribute.name + "=\"" + Self.escape(attribute.value, attribute: true) + "\""
        }
        if children.isEmpty { return output + "/>" }
        return output + ">" + content + "</" + name + ">"
    }

    /// What the element holds, as written between its tags.
    var content: String {
        var output = ""
        for child in children {
            switch child {
            case .element(let node): output += node.xml
            case .text(let text): output += Self.escape(text, attribute: false)
            case .cdata(let text): output += "<![CDATA[" + text.replacingOccurrences(of: "]]>", with: "]]]]><![CDATA[>") + "]]>"
            case .raw(let text): output += text
            }
        }
        return output
    }

    static func escape(_ text: String, attribute: Bool) -> String {
        var output = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": output += "&amp;"
            case "<": output += "&lt;"
            case ">": output += "&gt;"
            case "\"" where attribute: output += "&quot;"
            case "\r": output += "&#13;"
            case "\n" where attribute: output += "&#10;"
            case "\t" where attribute: output += "&#9;"
            default: output.unicodeScalars.append(scalar)
            }
        }
        return output
    }

    /// The elements of the tree in document order, each with its path of
    /// child indexes from the root.
    var elementPaths: [[Int]] {
        var paths: [[Int]] = [[]]
        for (index, child) in children.enumerated() {
            if case .element(let node) = child {
                paths += node.elementPaths.map { [index] + $0 }
            }
        }
        return paths
    }

    /// Changes the element at `path` (from `elementPaths`).
    mutating func modify(at path: ArraySlice<Int>, _ change: (inout FuzzNode) -> Void) {
        guard let first = path.first else {
            change(&self)
            return
        }
        guard case .element(var node) = children[first] else { return }
        node.modify(at: path.dropFirst(), change)
        children[first] = .element(node)
    }

    /// The number of elements in the tree.
    var elementCount: Int {
        1
            + children.reduce(0) { count, child in
                if case .element(let node) = child { return count + node.elementCount }
                return count
            }
    }
}

/// Whether XML 1.0 allows the scalar in a document (its `Char` production).
func isXMLCharacter(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.value {
    case 0x9, 0xA, 0xD, 0x20...0xD7FF, 0xE000...0xFFFD, 0x10000...0x10FFFF: true
    default: false
    }
}
