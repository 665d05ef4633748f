/// One problem with a test definition or a results file, with where it is.
///
/// Its description is the line users see: `file:line:column: message`.
public struct DefinitionError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        enum Base: String, Sendable, Hashable {
            case unreadable
            case malformed
            case schema
            case semantic
        }

        let base: Base

        /// The file could not be read.
        public static let unreadable = Code(base: .unreadable)
        /// The file is not well-formed XML.
        public static let malformed = Code(base: .malformed)
        /// The XML does not follow the schema.
        public static let schema = Code(base: .schema)
        /// The definition follows the schema but breaks a semantic rule.
        public static let semantic = Code(base: .semantic)

        public var description: String { base.rawValue }
    }

    public var code: Code
    public var location: SourceLocation
    public var message: String

    public init(_ code: Code, at location: SourceLocation, _ message: String) {
        self.code = code
        self.location = location
        self.message = message
    }

    public var description: String { "\(location): \(message)" }
}

/// Every problem found in one file; thrown when a definition is rejected.
public struct DefinitionErrors: Error, Sendable, CustomStringConvertible {
    public var errors: [DefinitionError]

    public init(_ errors: [DefinitionError]) {
        precondition(!errors.isEmpty, "DefinitionErrors needs at least one error")
        self.errors = errors
    }

    /// Whether any error is worse than a semantic one (the file does not
    /// read, does not parse, or breaks the schema).
    public var isSyntactic: Bool {
        errors.contains { $0.code != .semantic }
    }

    public var description: String {
        errors.map(\.description).joined(separator: "\n")
    }
}
