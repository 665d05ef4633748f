import Foundation

extension XMLTreeReader {
    /// The 8-bit encodings a document may declare besides UTF-8; libxml2
    /// converts them to UTF-8 itself.
    static let eightBitEncodings = Set(
        ["iso-8859-1", "iso8859-1", "iso_8859-1", "latin1", "latin-1", "l1", "us-ascii", "ascii"]
            + (2...16).map { "iso-8859-\($0)" } + (1250...1258).map { "windows-\($0)" })

    /// Checks that the document is in an encoding OTS reads, and returns its
    /// text as UTF-8 bytes for `checkMarkup` (the bytes themselves unless
    /// the document is UTF-16 or UTF-32).
    ///
    /// A document read as UTF-8 must be UTF-8: Foundation's XMLParser on
    /// Linux crashes the process on an element or attribute name that is
    /// not, so such bytes must never reach it. libxml2 reads a document as
    /// UTF-8 unless it starts with a UTF-16 or UTF-32 byte order mark or
    /// pattern, or declares an 8-bit encoding.
    /// How libxml2 tells a UTF-16 or UTF-32 document from its first bytes.
    private static let wideStarts: [([UInt8], String.Encoding)] = [
        ([0xFE, 0xFF], .utf16BigEndian), ([0xFF, 0xFE], .utf16LittleEndian), ([0x00, 0x3C, 0x00, 0x3F], .utf16BigEndian),
        ([0x3C, 0x00, 0x3F, 0x00], .utf16LittleEndian), ([0x00, 0x00, 0x00, 0x3C], .utf32BigEndian),
        ([0x3C, 0x00, 0x00, 0x00], .utf32LittleEndian),
    ]

    /// Whether libxml2 reads the document as UTF-16 or UTF-32.
    static func isWide(_ data: Data) -> Bool {
        let start = Array(data.prefix(4))
        return wideStarts.contains { start.starts(with: $0.0) }
    }

    static func checkEncoding(_ data: Data, file: String) throws(DefinitionError) -> [UInt8] {
        let start = Array(data.prefix(4))
        if let (_, encoding) = wideStarts.first(where: { start.starts(with: $0.0) }) {
            // libxml2 converts it to UTF-8, and stops at bytes it cannot convert.
            return String(data: data, encoding: encoding).map { Array($0.utf8) } ?? []
        }
        if start == [0x4C, 0x6F, 0xA7, 0x94] {
            throw DefinitionError(
                .malformed, at: SourceLocation(file: file, line: 1, column: 1),
                "the encoding EBCDIC is not supported: write the file in UTF-8 (or ISO-8859-1)")
        }
        let bytes = [UInt8](data)
        if let declared = declaredEncoding(data) {
            let name = declared.lowercased()
            if eightBitEncodings.contains(name) {
                return bytes
            }
            // Without a byte order mark, libxml2 reads a "UTF-16" document as UTF-8.
            guard ["utf-8", "utf8", "utf-16", "utf-32", "ucs-2", "ucs-4"].contains(name) else {
                throw DefinitionError(
                    .malformed, at: SourceLocation(file: file, line: 1, column: 1),
                    "the encoding '\(declared.inMessage(limit: 40))' is not supported: write the file in UTF-8 (or ISO-8859-1)")
            }
        }
        if let offset = firstInvalidUTF8(bytes) {
            let before = bytes[..<offset]
            let line = before.reduce(1) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
            let lineStart = before.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0
            throw DefinitionError(
                .malformed, at: SourceLocation(file: file, line: line, column: offset - lineStart + 1),
                "malformed XML: a byte that is not UTF-8 (0x\(String(bytes[offset], radix: 16, uppercase: true))) in a UTF-8 "
                    + "document: convert the file to UTF-8, or declare its encoding (<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>)")
        }
        return bytes
    }

    /// The encoding named by the XML declaration, if there is one.
    static func declaredEncoding(_ data: Data) -> String? {
        var bytes = data.prefix(1024)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = bytes.dropFirst(3) }
        guard bytes.starts(with: Array("<?xml".utf8)), let end = bytes.firstRange(of: Data("?>".utf8)) else { return nil }
        let declaration = String(decoding: bytes[..<end.lowerBound], as: UTF8.self)
        guard let name = declaration.range(of: "encoding") else { return nil }
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }
        var rest = declaration[name.upperBound...].drop(while: isSpace)
        guard rest.first == "=" else { return nil }
        rest = rest.dropFirst().drop(while: isSpace)
        guard let quote = rest.first, quote == "\"" || quote == "'" else { return nil }
        return String(rest.dropFirst().prefix { $0 != quote })
    }

    /// The offset of the first byte that does not belong to a well-formed
    /// UTF-8 sequence (RFC 3629), or nil.
    static func firstInvalidUTF8(_ bytes: [UInt8]) -> Int? {
        var index = 0
        func continuation(_ offset: Int, _ range: ClosedRange<UInt8> = 0x80...0xBF) -> Bool {
            index + offset < bytes.count && range.contains(bytes[index + offset])
        }
        while index < bytes.count {
            let length: Int
            switch bytes[index] {
            case 0x00...0x7F: length = 1
            case 0xC2...0xDF: length = continuation(1) ? 2 : 0
            case 0xE0: length = continuation(1, 0xA0...0xBF) && continuation(2) ? 3 : 0
            case 0xE1...0xEC, 0xEE...0xEF: length = continuation(1) && continuation(2) ? 3 : 0
            case 0xED: length = continuation(1, 0x80...0x9F) && continuation(2) ? 3 : 0
            case 0xF0: length = continuation(1, 0x90...0xBF) && continuation(2) && continuation(3) ? 4 : 0
            case 0xF1...0xF3: length = continuation(1) && continuation(2) && continuation(3) ? 4 : 0
            case 0xF4: length = continuation(1, 0x80...0x8F) && continuation(2) && continuation(3) ? 4 : 0
            default: length = 0
            }
            if length == 0 { return index }
            index += length
        }
        return nil
    }
}
