/// A problem that stops a run before or while it runs (not a failing test,
/// which is a result).
public struct RunnerError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        enum Base: String, Sendable, Hashable {
            case invalidArgument
            case connectionFailure
            case outputUnwritable
            case execution
        }

        let base: Base

        /// An option or its value is wrong.
        public static let invalidArgument = Code(base: .invalidArgument)
        /// The target could not be reached.
        public static let connectionFailure = Code(base: .connectionFailure)
        /// The results could not be written.
        public static let outputUnwritable = Code(base: .outputUnwritable)
        /// A command could not be started at all.
        public static let execution = Code(base: .execution)

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
