import Foundation

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// Reads an XML document into an `XMLElement` tree.
///
/// External entities are never resolved. The encoding comes from the XML
/// declaration (UTF-8 and ISO-8859-1 among others); entities are decoded.
enum XMLTreeReader {
    static func read(_ data: Data, file: String) throws(DefinitionError) -> XMLElement {
        // The parser drops entities declared in a DTD without a word, which
        // would change step commands; refuse them instead.
        if let range = data.firstRange(of: Data("<!ENTITY".utf8)) {
            let offset = range.lowerBound - data.startIndex
            let before = data[data.startIndex..<range.lowerBound]
            let line = before.filter { $0 == UInt8(ascii: "\n") }.count + 1
            let lineStart = before.lastIndex(of: UInt8(ascii: "\n")).map { $0 - data.startIndex + 1 } ?? 0
            let name =
                String(decoding: data[range.upperBound...].prefix(200), as: UTF8.self)
                .split(whereSeparator: { $0.isWhitespace }).first.map(String.init) ?? "?"
            throw DefinitionError(
                .malformed,
                at: SourceLocation(file: file, line: line, column: offset - lineStart + 1),
                "entity declarations are not supported (entity '\(name)'): write the text out in the document"
            )
        }
        let delegate = Delegate(file: file, data: data)
        let parser = XMLParser(data: data)
        parser.shouldResolveExternalEntities = false
        parser.shouldProcessNamespaces = false
        parser.delegate = delegate
        delegate.parser = parser
        let ok = parser.parse()
        if let error = delegate.error {
            throw error
        }
        guard ok, let root = delegate.root else {
            let message = describe(parser.parserError)
            throw DefinitionError(
                .malformed,
                at: SourceLocation(file: file, line: max(parser.lineNumber, 1), column: max(parser.columnNumber, 1)),
                message
            )
        }
        return root
    }

    private static func describe(_ error: (any Error)?) -> String {
        guard let error else { return "the document is empty or not XML" }
        let nsError = error as NSError
        if let reason = nsError.userInfo[NSLocalizedDescriptionKey] as? String, !reason.isEmpty {
            return "malformed XML: \(reason)"
        }
        return "malformed XML (parser error \(nsError.code))"
    }

    private final class Delegate: NSObject, XMLParserDelegate {
        let file: String
        let data: Data
        /// Byte offsets where each line starts, to find where a start tag
        /// begins (the parser reports where it ends).
        let lineStarts: [Int]
        weak var parser: XMLParser?
        var stack: [XMLElement] = []
        var root: XMLElement?
        var error: DefinitionError?

        init(file: String, data: Data) {
            self.file = file
            self.data = data
            var starts = [0]
            for (offset, byte) in data.enumerated() where byte == UInt8(ascii: "\n") {
                starts.append(offset + 1)
            }
            self.lineStarts = starts
        }

        /// The position of the `<` that opens the element just read.
        private func startOfTag(named name: String) -> SourceLocation {
            let end = location
            guard end.line - 1 < lineStarts.count else { return end }
            var offset = min(lineStarts[end.line - 1] + end.column - 1, data.count - 1)
            let base = data.startIndex
            let nameBytes = Array(name.utf8)
            while offset >= 0 {
                if data[base + offset] == UInt8(ascii: "<"), offset + nameBytes.count < data.count,
                    Array(data[(base + offset + 1)..<(base + offset + 1 + nameBytes.count)]) == nameBytes
                {
                    // Binary search for the line holding this offset.
                    var low = 0
                    var high = lineStarts.count - 1
                    while low < high {
                        let mid = (low + high + 1) / 2
                        if lineStarts[mid] <= offset { low = mid } else { high = mid - 1 }
                    }
                    return SourceLocation(file: file, line: low + 1, column: offset - lineStarts[low] + 1)
                }
                offset -= 1
            }
            return end
        }

        private var location: SourceLocation {
            SourceLocation(file: file, line: max(parser?.lineNumber ?? 1, 1), column: max(parser?.columnNumber ?? 1, 1))
        }

        func parser(
            _ parser: XMLParser,
            didStartElement elementName: String,
            namespaceURI: String?,
            qualifiedName qName: String?,
            attributes attributeDict: [String: String] = [:]
        ) {
            stack.append(
                XMLElement(
                    name: elementName,
                    attributes: attributeDict,
                    children: [],
                    text: "",
                    location: startOfTag(named: elementName)
                )
            )
        }

        func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName qName: String?) {
            guard let element = stack.popLast() else { return }
            if stack.isEmpty {
                root = element
            } else {
                stack[stack.count - 1].children.append(element)
            }
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            guard !stack.isEmpty else { return }
            stack[stack.count - 1].text += string
        }

        func parser(_ parser: XMLParser, foundCDATA CDATABlock: Data) {
            guard !stack.isEmpty else { return }
            stack[stack.count - 1].text += String(decoding: CDATABlock, as: UTF8.self)
        }

        func parser(_ parser: XMLParser, parseErrorOccurred parseError: any Error) {
            guard error == nil else { return }
            let nsError = parseError as NSError
            var message = "malformed XML"
            if let reason = nsError.userInfo[NSLocalizedDescriptionKey] as? String, !reason.isEmpty {
                message += ": " + reason.trimmingCharacters(in: .whitespacesAndNewlines)
            } else {
                message += " (parser error \(nsError.code))"
            }
            error = DefinitionError(.malformed, at: location, message)
        }
    }
}
