/// A package a testrun asks for: run on the device (its tests.xml is on the
/// target), on the worker host against the device, or a test definition
/// fetched from a URL.
public struct PackageRequest: Sendable, Hashable, Codable {
    public enum Location: String, Sendable, Hashable, Codable {
        case device
        case host
        /// A test definition given by URL; `name` is the URL.
        case url
    }

    public var name: String
    public var location: Location
    /// The tests.xml itself, for a definition sent with the request.
    public var definition: String?

    public init(name: String, location: Location = .device, definition: String? = nil) {
        self.name = name
        self.location = location
        self.definition = definition
    }

    /// The packages of a request, in the order a worker runs them: device
    /// packages, host packages, definitions by URL, then those sent with
    /// the request.
    public static func all(in request: TestrunRequest) -> [PackageRequest] {
        request.packages.device.map { PackageRequest(name: $0, location: .device) }
            + request.packages.host.map { PackageRequest(name: $0, location: .host) }
            + (request.testDefinitions ?? []).map { PackageRequest(name: $0, location: .url) }
            + (request.inlineDefinitions ?? []).map { PackageRequest(name: $0.name, location: $0.location, definition: $0.xml) }
    }
}

/// What one task runs: packages, each whole or some of its sets.
public struct TaskWork: Sendable, Hashable, Codable {
    /// The package name under which a task's files of the device itself
    /// (its serial console's log, say) are kept: no package can have it,
    /// since package names hold only letters, digits and `._+-`.
    public static let devicePackage = "@device"

    public struct Package: Sendable, Hashable, Codable {
        public var name: String
        public var location: PackageRequest.Location
        /// The sets to run; nil runs them all.
        public var sets: [String]?
        /// Sets not to run: other tasks run them. With `sets` nil, this
        /// task runs every other set, those its planner did not know of
        /// included.
        public var skipSets: [String]?
        /// The planned run order of its sets (the history model's: longest
        /// estimated first): the sets named run first, in this order, the
        /// others after them in definition order. Nil runs them in
        /// definition order, as testrunner-lite does.
        public var setOrder: [String]?
        /// The tests.xml itself, for a definition sent with the request.
        public var definition: String?

        enum CodingKeys: String, CodingKey {
            case name, location, sets
            case skipSets = "skip_sets"
            case setOrder = "set_order"
            case definition
        }

        public init(
            name: String, location: PackageRequest.Location, sets: [String]? = nil, skipSets: [String]? = nil, setOrder: [String]? = nil,
            definition: String? = nil
        ) {
            self.name = name
            self.location = location
            self.sets = sets
            self.skipSets = skipSets
            self.setOrder = setOrder
            self.definition = definition
        }

        public init(_ request: PackageRequest, sets: [String]? = nil, skipSets: [String]? = nil, setOrder: [String]? = nil) {
            self.init(
                name: request.name, location: request.location, sets: sets, skipSets: skipSets, setOrder: setOrder,
                definition: request.definition)
        }

        /// Whether the task runs the set of this package named `set`.
        public func runs(set: String) -> Bool {
            (sets?.contains(set) ?? true) && !(skipSets?.contains(set) ?? false)
        }
    }

    public var packages: [Package]

    public init(packages: [Package]) {
        self.packages = packages
    }
}
