import OTSCore

/// A call to an OTS server that did not work: the server could not be
/// reached, refused the request (with its reason), or answered nonsense.
public struct ClientError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// No answer: connection refused, reset or timed out. Worth retrying.
        case unreachable
        /// The server answered with an error status and this problem.
        case rejected(status: Int, APIProblem)
        /// The answer could not be read.
        case badResponse
        /// The client cannot be set up as configured (a CA file that cannot
        /// be read).
        case unusable
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    /// Whether sending the same request again later may work: the server
    /// was unreachable, busy or failing, as opposed to refusing it.
    public var isTransient: Bool {
        switch kind {
        case .unreachable: true
        case .rejected(let status, _): status >= 500 || status == 408 || status == 429
        case .badResponse: true
        case .unusable: false
        }
    }

    /// The HTTP status, when the server answered.
    public var status: Int? {
        if case .rejected(let status, _) = kind { return status }
        return nil
    }
}
