/// A problem of a worker: what happened and what to do.
public struct WorkerError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        enum Base: String, Sendable, Hashable {
            case configuration
        }

        let base: Base

        /// The worker's configuration is wrong.
        public static let configuration = Code(base: .configuration)

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
