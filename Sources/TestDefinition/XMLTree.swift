import Foundation

/// An XML document as a tree, read the way test definitions and results
/// are (`XMLTreeReader`: no external entities, no DTD that changes the
/// document, a bounded depth, every error naming its line): for the other
/// readers of XML in OTS, such as the server's XML-RPC interface.
public struct XMLTree: Sendable, Hashable {
    public var name: String
    public var attributes: [String: String]
    public var children: [XMLTree]
    /// The element's own character data, entities decoded.
    public var text: String
    /// The line its start tag is on.
    public var line: Int

    /// Reads a whole document; `file` names it in errors.
    public static func read(_ data: Data, file: String) throws(DefinitionError) -> XMLTree {
        XMLTree(try XMLTreeReader.read(data, file: file))
    }

    init(_ element: XMLElement) {
        name = element.name
        attributes = element.attributes
        children = element.children.map(XMLTree.init)
        text = element.text
        line = element.location.line
    }

    /// The child elements named `name`.
    public func children(named name: String) -> [XMLTree] {
        children.filter { $0.name == name }
    }
}
