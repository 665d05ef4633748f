/// A request the farm or the monitor refuses, in the domain's terms: what
/// is wrong, and the field at fault where there is one. The components
/// throw these; the HTTP layer (OTSHTTP's `ErrorMiddleware`) is the one
/// place that turns them into status codes.
public struct DomainError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable, CustomStringConvertible {
        /// The request is wrong; `field` names where.
        case invalid
        /// The sender may not do this (another worker's task, a scope it lacks).
        case forbidden
        /// No such testrun, task, worker or token.
        case notFound = "not_found"
        /// Not possible in the current state (the task is held by another
        /// worker, the testrun has ended).
        case conflict
        /// The component's own fault.
        case internalError = "internal"

        public var description: String { rawValue }
    }

    public var code: Code
    public var message: String
    public var field: String?

    public init(_ code: Code, _ message: String, field: String? = nil) {
        self.code = code
        self.message = message
        self.field = field
    }

    /// A field's problem (from a request's `problems`) as the refusal.
    public init(_ problems: [TestrunRequest.Problem]) {
        self.init(.invalid, problems.map(\.description).joined(separator: "; "), field: problems.first?.field)
    }

    public var description: String { message }
}
