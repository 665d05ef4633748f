/// Who may use a server's or a monitor's API.
public struct AccessPolicy: Sendable, Hashable {
    public enum Mode: String, Sendable, Hashable {
        /// Every request but health and the API description needs a token
        /// of the right scope (the default).
        case tokens
        /// Nothing is checked: for a closed lab network or a laptop only.
        case off
    }

    public var mode: Mode = .tokens
    /// Reading (the read API and the dashboard) needs no token.
    public var anonymousRead = false

    public init(mode: Mode = .tokens, anonymousRead: Bool = false) {
        self.mode = mode
        self.anonymousRead = anonymousRead
    }

    /// Reads `auth` and `anonymous_read`.
    public mutating func load(_ reader: inout TOMLReader) throws(ConfigurationError) {
        if let value = try reader.string("auth") {
            guard let parsed = Mode(rawValue: value) else { throw reader.error("auth", "must be \"tokens\" or \"off\", not \"\(value)\"") }
            mode = parsed
        }
        anonymousRead = try reader.bool("anonymous_read") ?? anonymousRead
    }
}
