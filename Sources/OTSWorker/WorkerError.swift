/// A problem of a worker: what happened and what to do.
public struct WorkerError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        enum Base: String, Sendable, Hashable {
            case configuration
            case image
            case package
            case refused
            case spool
        }

        let base: Base

        /// The worker's configuration is wrong.
        public static let configuration = Code(base: .configuration)
        /// The image cannot be had.
        public static let image = Code(base: .image)
        /// A package's test definition cannot be had or read.
        public static let package = Code(base: .package)
        /// The worker's configuration does not allow what the task asks
        /// (a URL, host packages): the requestor's to change.
        public static let refused = Code(base: .refused)
        /// The spool folder cannot be written.
        public static let spool = Code(base: .spool)

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
