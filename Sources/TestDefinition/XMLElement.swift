/// An element of a parsed XML document, with where it starts.
///
/// Definitions and results are small enough to hold as a tree; the tree
/// keeps positions so that every schema error can name its line.
struct XMLElement: Sendable {
    var name: String
    var attributes: [String: String]
    var children: [XMLElement]
    /// The element's own character data (text and CDATA), entities decoded.
    var text: String
    var location: SourceLocation
    /// On the root: the document's processing instructions (`<?target
    /// data?>`), wherever they stand, in document order.
    var instructions: [XMLInstruction] = []

    /// Whether the element's text holds anything but white space.
    var hasText: Bool {
        text.contains { !$0.isWhitespace }
    }
}

/// A processing instruction: `<?target data?>`.
struct XMLInstruction: Sendable, Hashable {
    var target: String
    var data: String
    var location: SourceLocation
}
