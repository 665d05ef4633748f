import Foundation

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// Reads an XML document into an `XMLElement` tree.
///
/// External entities are never resolved, and DTD declarations that would
/// change the document (entities, attribute defaults) are refused. The
/// encoding comes from the XML declaration: UTF-8 (the default), UTF-16 and
/// UTF-32 with a byte order mark, ISO-8859-1 to 16, US-ASCII and
/// Windows-1250 to 1258. Predefined entities and character references are
/// decoded.
enum XMLTreeReader {
    /// Elements nested deeper than this are refused: no definition or
    /// results file comes near it, and a deeper tree is an attack on the
    /// reader's stack.
    static let maximumDepth = 256

    /// CDATA sections longer than this are read as several.
    static let cdataPiece = 1 << 20

    static func read(_ data: Data, file: String) throws(DefinitionError) -> XMLElement {
        let text = try checkEncoding(data, file: file)
        let longSections = try checkMarkup(text, file: file)
        // Given the whole document at once, libxml2 stops at 10 MB
        // (XML_MAX_LOOKUP_LIMIT); given it in chunks, as a stream, it reads
        // any length, except a CDATA section longer than that: such
        // sections are read as several, which says the same. Its other
        // limits (entities, names, nesting) stay.
        let document = isWide(data) || longSections.isEmpty ? data : Data(splitting(text, at: longSections))
        let delegate = Delegate(file: file, data: document)
        let parser = XMLParser(stream: InputStream(data: document))
        parser.shouldResolveExternalEntities = false
        parser.shouldProcessNamespaces = false
        parser.delegate = delegate
        delegate.parser = parser
        let ok = parser.parse()
        if let error = delegate.error {
            throw error
        }
        guard ok, var root = delegate.root else {
            let location = SourceLocation(file: file, line: max(parser.lineNumber, 1), column: max(parser.columnNumber, 1))
            throw DefinitionError(.malformed, at: location, delegate.reason(forCode: (parser.parserError as NSError?)?.code))
        }
        root.instructions = delegate.instructions
        return root
    }

    /// The document with each of `sections` (the contents of CDATA
    /// sections) cut into pieces of at most `cdataPiece` bytes, each a CDATA
    /// section of its own; never inside a UTF-8 sequence.
    static func splitting(_ bytes: [UInt8], at sections: [Range<Int>]) -> [UInt8] {
        let separator = Array("]]><![CDATA[".utf8)
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count + separator.count * (sections.reduce(0) { $0 + $1.count / cdataPiece } + 1))
        var position = 0
        for section in sections {
            var start = section.lowerBound
            while section.upperBound - start > cdataPiece {
                var cut = start + cdataPiece
                while cut > start, bytes[cut] & 0xC0 == 0x80 { cut -= 1 }
                if cut == start { cut = start + cdataPiece }
                result += bytes[position..<cut]
                result += separator
                position = cut
                start = cut
            }
        }
        result += bytes[position...]
        return result
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
        var instructions: [XMLInstruction] = []
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
            guard stack.count < XMLTreeReader.maximumDepth else {
                if error == nil {
                    error = DefinitionError(
                        .malformed, at: startOfTag(named: elementName),
                        "elements nest deeper than \(XMLTreeReader.maximumDepth) levels (at <\(elementName.inMessage(limit: 50))>)")
                }
                parser.abortParsing()
                return
            }
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

        func parser(_ parser: XMLParser, foundProcessingInstructionWithTarget target: String, data: String?) {
            instructions.append(XMLInstruction(target: target, data: data ?? "", location: location))
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
            if let reason = nsError.userInfo[NSLocalizedDescriptionKey] as? String, !reason.isEmpty {
                let message = "malformed XML: " + reason.trimmingCharacters(in: .whitespacesAndNewlines).inMessage(limit: 300)
                error = DefinitionError(.malformed, at: location, message)
            } else {
                error = DefinitionError(.malformed, at: location, reason(forCode: nsError.code))
            }
        }

        /// What an error of libxml2 (or none, when the parser just ends)
        /// means at this point of the document. libxml2 reports the end of
        /// the data inside an element and content after the root element
        /// with the same code.
        func reason(forCode code: Int?) -> String {
            let endOfDocument = code == nil || code == 4 || code == 5 || code == 77
            if endOfDocument, let open = stack.last {
                return "malformed XML: the document ends before <\(open.name.inMessage(limit: 50))> (line \(open.location.line)) is closed"
            }
            if endOfDocument, root == nil {
                let blank = data.allSatisfy { [0x20, 0x09, 0x0A, 0x0D].contains($0) }
                return blank ? "the document is empty" : "malformed XML: the document has no root element"
            }
            return "malformed XML: " + XMLTreeReader.reason(forCode: code ?? 5)
        }
    }
}
