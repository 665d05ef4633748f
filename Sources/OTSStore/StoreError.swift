/// A problem of the store: what happened and what to do.
public struct StoreError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        enum Base: String, Sendable, Hashable {
            case invalidURL
            case unavailable
            case schemaTooNew
            case notFound
            case conflict
            case refused
            case corrupt
        }

        let base: Base

        /// The database URL is not one OTS understands.
        public static let invalidURL = Code(base: .invalidURL)
        /// The database cannot be opened or reached.
        public static let unavailable = Code(base: .unavailable)
        /// The database was migrated by a newer OTS.
        public static let schemaTooNew = Code(base: .schemaTooNew)
        /// No such record.
        public static let notFound = Code(base: .notFound)
        /// The record is not in a state that allows the change.
        public static let conflict = Code(base: .conflict)
        /// The database refused a statement.
        public static let refused = Code(base: .refused)
        /// A stored value is not one this OTS knows (written by hand, or by
        /// a newer OTS).
        public static let corrupt = Code(base: .corrupt)

        public var description: String { base.rawValue }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
