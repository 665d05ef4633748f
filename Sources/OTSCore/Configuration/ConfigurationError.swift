/// A configuration file or variable that cannot be used: where, and why.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var message: String

    public init(file: String, line: Int? = nil, _ message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String {
        line.map { "\(file):\($0): \(message)" } ?? "\(file): \(message)"
    }
}

extension ConfigurationError {
    /// A port number from a variable named `source`.
    public static func port(_ text: String, in source: String) throws(ConfigurationError) -> Int {
        guard let port = Int(text), (0...65535).contains(port) else {
            throw ConfigurationError(file: source, "'\(text)' is not a port number")
        }
        return port
    }
}
