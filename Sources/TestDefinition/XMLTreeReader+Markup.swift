extension XMLTreeReader {
    /// Refuses markup that the parser would either apply without a word,
    /// changing what the document says, or that crashes Foundation's
    /// XMLParser on Linux:
    ///
    /// - entity declarations (text substituted into step commands) and
    ///   attribute-list declarations (attribute defaults nobody wrote);
    /// - notation declarations, and processing instructions without data
    ///   (`<?name?>`), which crash the process.
    ///
    /// A light scan of the UTF-8 text that knows comments, CDATA sections,
    /// quoted values and the DOCTYPE's internal subset, so that such text
    /// inside a comment, a CDATA section or a value is left alone. Where the
    /// document is malformed the scan may lose its place; libxml2 stops at
    /// the first such error, so nothing after it reaches the parser's
    /// callbacks.
    ///
    /// Returns the contents of the CDATA sections longer than `cdataPiece`.
    static func checkMarkup(_ bytes: [UInt8], file: String) throws(DefinitionError) -> [Range<Int>] {
        var scanner = MarkupScanner(bytes: bytes)
        if let (offset, message) = scanner.firstRefusal() {
            let before = bytes[..<offset]
            let line = before.reduce(1) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
            let lineStart = before.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0
            throw DefinitionError(.malformed, at: SourceLocation(file: file, line: line, column: offset - lineStart + 1), message)
        }
        return scanner.longCDATASections
    }
}

/// Walks XML text markup by markup; see `XMLTreeReader.checkMarkup`.
private struct MarkupScanner {
    let bytes: [UInt8]
    var index = 0
    /// The contents of the CDATA sections longer than `cdataPiece`.
    var longCDATASections: [Range<Int>] = []

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    private func starts(with marker: StaticString, at offset: Int) -> Bool {
        let count = marker.utf8CodeUnitCount
        guard offset + count <= bytes.count else { return false }
        return marker.withUTF8Buffer { marker in
            for index in 0..<count where bytes[offset + index] != marker[index] { return false }
            return true
        }
    }

    /// The offset just after the next `marker` from `offset`, or the end.
    private func after(_ marker: StaticString, from offset: Int) -> Int {
        var position = offset
        while position < bytes.count {
            if starts(with: marker, at: position) { return position + marker.utf8CodeUnitCount }
            position += 1
        }
        return bytes.count
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    /// The name that follows `offset`, for messages.
    private func name(at offset: Int) -> String {
        var position = offset
        while position < bytes.count, Self.isSpace(bytes[position]) { position += 1 }
        var end = position
        while end < bytes.count, end - position < 100, !Self.isSpace(bytes[end]), bytes[end] != UInt8(ascii: ">"),
            bytes[end] != UInt8(ascii: "?"), bytes[end] != UInt8(ascii: "'"), bytes[end] != UInt8(ascii: "\"")
        {
            end += 1
        }
        return String(decoding: bytes[position..<end], as: UTF8.self).inMessage(limit: 50)
    }

    mutating func firstRefusal() -> (offset: Int, message: String)? {
        while index < bytes.count {
            guard bytes[index] == UInt8(ascii: "<") else {
                index += 1
                continue
            }
            let start = index
            if starts(with: "<!--", at: index) {
                index = after("-->", from: index + 4)
            } else if starts(with: "<![CDATA[", at: index) {
                index = after("]]>", from: index + 9)
                let content = (start + 9)..<max(start + 9, index - 3)
                if content.count > XMLTreeReader.cdataPiece, starts(with: "]]>", at: index - 3) { longCDATASections.append(content) }
            } else if starts(with: "<?", at: index) {
                if let refusal = processingInstruction() { return refusal }
            } else if starts(with: "<!DOCTYPE", at: index) {
                if let refusal = doctype() { return refusal }
            } else if starts(with: "<!", at: index) {
                if let refusal = declaration() { return refusal }
            } else {
                tag()
            }
            if index <= start { index = start + 1 }
        }
        return nil
    }

    /// `<?target data?>`; a target right before `?>` is refused.
    private mutating func processingInstruction() -> (offset: Int, message: String)? {
        let start = index
        var position = index + 2
        while position < bytes.count, !Self.isSpace(bytes[position]), !starts(with: "?>", at: position) {
            position += 1
        }
        if position > start + 2, starts(with: "?>", at: position) {
            let target = name(at: start + 2)
            return (
                start,
                "a processing instruction without data (<?\(target)?>) is not supported: remove it, or give it data (<?\(target) data?>)"
            )
        }
        index = after("?>", from: position)
        return nil
    }

    /// `<!ENTITY`, `<!ATTLIST`, `<!NOTATION`: refused; other declarations
    /// (`<!ELEMENT`) are skipped with their quoted literals.
    private mutating func declaration() -> (offset: Int, message: String)? {
        let start = index
        if starts(with: "<!ENTITY", at: start) {
            var position = start + 8
            while position < bytes.count, Self.isSpace(bytes[position]) { position += 1 }
            if position < bytes.count, bytes[position] == UInt8(ascii: "%") { position += 1 }
            return (
                start,
                "entity declarations are not supported (entity '\(name(at: position))'): write the text out in the document"
            )
        }
        if starts(with: "<!ATTLIST", at: start) {
            return (
                start,
                "attribute-list declarations are not supported (for <\(name(at: start + 9))>): write the attributes on the elements"
            )
        }
        if starts(with: "<!NOTATION", at: start) {
            return (start, "notation declarations are not supported (notation '\(name(at: start + 10))'): remove it")
        }
        index = start + 2
        skipToClose()
        return nil
    }

    /// The DOCTYPE, and the declarations of its internal subset.
    private mutating func doctype() -> (offset: Int, message: String)? {
        index += 9
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\""), UInt8(ascii: "'"):
                skipQuoted()
            case UInt8(ascii: "["):
                index += 1
                if let refusal = internalSubset() { return refusal }
            case UInt8(ascii: ">"):
                index += 1
                return nil
            default:
                index += 1
            }
        }
        return nil
    }

    private mutating func internalSubset() -> (offset: Int, message: String)? {
        while index < bytes.count {
            let start = index
            if bytes[index] == UInt8(ascii: "]") {
                index += 1
                return nil
            } else if starts(with: "<!--", at: index) {
                index = after("-->", from: index + 4)
            } else if starts(with: "<?", at: index) {
                if let refusal = processingInstruction() { return refusal }
            } else if starts(with: "<!", at: index) {
                if let refusal = declaration() { return refusal }
            } else if bytes[index] == UInt8(ascii: "\"") || bytes[index] == UInt8(ascii: "'") {
                skipQuoted()
            } else {
                index += 1
            }
            if index <= start { index = start + 1 }
        }
        return nil
    }

    /// A start or end tag: to its `>`, over quoted attribute values (which
    /// may hold `>` but never `<`).
    private mutating func tag() {
        index += 1
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\""), UInt8(ascii: "'"):
                skipQuoted(stoppingAtLessThan: true)
            case UInt8(ascii: ">"):
                index += 1
                return
            case UInt8(ascii: "<"):
                return
            default:
                index += 1
            }
        }
    }

    /// To the `>` that closes a declaration, over its quoted literals.
    private mutating func skipToClose() {
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\""), UInt8(ascii: "'"): skipQuoted()
            case UInt8(ascii: ">"):
                index += 1
                return
            default: index += 1
            }
        }
    }

    /// Past the quoted value that starts at `index`.
    private mutating func skipQuoted(stoppingAtLessThan: Bool = false) {
        let quote = bytes[index]
        index += 1
        while index < bytes.count, bytes[index] != quote {
            if stoppingAtLessThan, bytes[index] == UInt8(ascii: "<") { return }
            index += 1
        }
        index += 1
    }
}
