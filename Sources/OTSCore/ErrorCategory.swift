/// Who must act on an error.
///
/// Statistics group failures by category so that each kind of failure
/// reaches the people who can fix it.
public enum ErrorCategory: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    /// A bad request, an invalid test definition, a missing package.
    case user
    /// Flashing or booting failed, or the device was lost.
    case device
    /// The image is missing or corrupt.
    case image
    /// A worker crashed, a lease was lost, the server failed, an OTS timeout.
    case infrastructure
    /// A test step failed or timed out.
    case test

    public var description: String { rawValue }
}

/// An error as the API reports it: who must act, and what happened.
public struct CategorizedError: Sendable, Hashable, Codable {
    public var category: ErrorCategory
    public var message: String

    public init(category: ErrorCategory, message: String) {
        self.category = category
        self.message = message
    }
}
