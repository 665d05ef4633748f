import Foundation

/// The environment variables a component's configuration reads (`OTS_*`):
/// a variable set to the empty string counts as unset. The server, the
/// monitor, the worker and the command line read them through this one
/// type, after their file and before their flags.
public struct ConfigurationEnvironment: Sendable {
    public var variables: [String: String]

    public init(_ variables: [String: String]) {
        self.variables = variables
    }

    /// This process's environment.
    public static var process: ConfigurationEnvironment { ConfigurationEnvironment(ProcessInfo.processInfo.environment) }

    /// The variable's value; nil when unset or empty.
    public subscript(_ name: String) -> String? {
        variables[name].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// A port number (0 to 65535); nil when unset; an error naming the
    /// variable otherwise.
    public func port(_ name: String) throws(ConfigurationError) -> Int? {
        guard let text = self[name] else { return nil }
        return try ConfigurationError.port(text, in: name)
    }
}
