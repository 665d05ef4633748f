/// A parsed test definition (a `tests.xml`): the `testdefinition` element.
public struct TestDefinition: Sendable, Hashable {
    public var version: String
    /// The command whose output is the hardware id, if any.
    public var hwiddetect: String?
    public var description: String?
    public var suites: [Suite]
    /// The file it was read from, for messages.
    public var file: String
    /// The package must run in one task, all its sets in definition order
    /// (`<?ots keep-whole="true"?>`): OTS's history model does not spread
    /// its sets over tasks. The schema has no attribute for it, so it is a
    /// processing instruction, which the schema and testrunner-lite ignore.
    public var keepWhole: Bool

    public init(
        version: String, hwiddetect: String? = nil, description: String? = nil, suites: [Suite], file: String = "-",
        keepWhole: Bool = false
    ) {
        self.version = version
        self.hwiddetect = hwiddetect
        self.description = description
        self.suites = suites
        self.file = file
        self.keepWhole = keepWhole
    }

    /// Every case in the definition, in document order.
    public var allCases: [TestCase] {
        suites.flatMap { $0.sets.flatMap(\.cases) }
    }
}

/// A `suite`: a group of sets.
public struct Suite: Sendable, Hashable {
    public var attributes: GeneralAttributes
    public var descriptionText: String?
    public var sets: [TestSet]
    public var location: SourceLocation

    public init(attributes: GeneralAttributes, descriptionText: String? = nil, sets: [TestSet], location: SourceLocation) {
        self.attributes = attributes
        self.descriptionText = descriptionText
        self.sets = sets
        self.location = location
    }

    public var name: String { attributes.name }
}

/// A `set`: cases that share pre- and post-steps, an environment and files
/// to fetch. OTS distributes work at the set level.
public struct TestSet: Sendable, Hashable {
    public var attributes: GeneralAttributes
    public var descriptionText: String?
    public var preSteps: StepGroup?
    public var postSteps: StepGroup?
    public var postRebootSteps: StepGroup?
    public var cases: [TestCase]
    /// The `environments` element: environment name to whether the set
    /// runs there (`<scratchbox>false</scratchbox>`). Empty when absent.
    public var environments: [String: Bool]
    public var get: [FetchFile]
    public var location: SourceLocation

    public init(
        attributes: GeneralAttributes,
        descriptionText: String? = nil,
        preSteps: StepGroup? = nil,
        postSteps: StepGroup? = nil,
        postRebootSteps: StepGroup? = nil,
        cases: [TestCase] = [],
        environments: [String: Bool] = [:],
        get: [FetchFile] = [],
        location: SourceLocation
    ) {
        self.attributes = attributes
        self.descriptionText = descriptionText
        self.preSteps = preSteps
        self.postSteps = postSteps
        self.postRebootSteps = postRebootSteps
        self.cases = cases
        self.environments = environments
        self.get = get
        self.location = location
    }

    public var name: String { attributes.name }

    /// The environments every set runs in unless it says otherwise.
    public static let defaultEnvironments: Set<String> = ["hardware", "scratchbox"]

    /// Whether the set runs in the named environment. As in testrunner-lite,
    /// a set runs in `hardware` and `scratchbox` unless its `environments`
    /// turn one off (`<scratchbox>false</scratchbox>`); no other environment
    /// runs any set.
    public func runs(in environment: String) -> Bool {
        Self.defaultEnvironments.contains(environment) && environments[environment] != false
    }
}

/// `pre_steps`, `post_steps` or `post_reboot_steps`: steps with a timeout
/// of their own (180 s unless given, as in testrunner-lite).
public struct StepGroup: Sendable, Hashable {
    /// The timeout of a step group that gives none, in seconds.
    public static let defaultTimeout = 180

    /// Seconds, when given.
    public var timeout: Int?
    public var steps: [Step]

    public init(timeout: Int? = nil, steps: [Step]) {
        self.timeout = timeout
        self.steps = steps
    }
}

/// A `case`: steps run in order; the first failing step fails it.
public struct TestCase: Sendable, Hashable {
    public var attributes: GeneralAttributes
    public var subfeature: String?
    public var bugzillaID: Int?
    public var tcID: String?
    public var state: String?
    public var descriptionText: String?
    /// Steps and events in document order.
    public var items: [CaseItem]
    public var get: [FetchFile]
    public var location: SourceLocation

    public init(
        attributes: GeneralAttributes,
        subfeature: String? = nil,
        bugzillaID: Int? = nil,
        tcID: String? = nil,
        state: String? = nil,
        descriptionText: String? = nil,
        items: [CaseItem] = [],
        get: [FetchFile] = [],
        location: SourceLocation
    ) {
        self.attributes = attributes
        self.subfeature = subfeature
        self.bugzillaID = bugzillaID
        self.tcID = tcID
        self.state = state
        self.descriptionText = descriptionText
        self.items = items
        self.get = get
        self.location = location
    }

    public var name: String { attributes.name }

    public var steps: [Step] {
        items.compactMap {
            if case .step(let step) = $0 { step } else { nil }
        }
    }
}

/// What a case holds, in order.
public enum CaseItem: Sendable, Hashable {
    case step(Step)
    case event(TestEvent)
}

/// A `step`: a shell command and the exit code it must return.
public struct Step: Sendable, Hashable {
    public var command: String
    /// The exit code that means success, when given (`expected_result`).
    public var explicitExpectedResult: Int?
    public var manual: Bool?
    /// `none`, `reboot` or `reboot_expected`; nil when not given.
    public var control: String?
    public var location: SourceLocation

    /// The exit code that means success; 0 unless given.
    public var expectedResult: Int { explicitExpectedResult ?? 0 }

    public init(command: String, expectedResult: Int? = nil, manual: Bool? = nil, control: String? = nil, location: SourceLocation) {
        self.command = command
        self.explicitExpectedResult = expectedResult
        self.manual = manual
        self.control = control
        self.location = location
    }
}

/// A file to fetch from the target after a set or case (`get`/`file`).
public struct FetchFile: Sendable, Hashable, Codable {
    public var path: String
    public var deleteAfter: Bool
    /// The file holds measurements (`name;value;unit[;target;failure]`).
    public var measurement: Bool
    /// The file holds a measurement series.
    public var series: Bool

    public init(path: String, deleteAfter: Bool = false, measurement: Bool = false, series: Bool = false) {
        self.path = path
        self.deleteAfter = deleteAfter
        self.measurement = measurement
        self.series = series
    }
}

/// An `event` element: send or wait for a named event with parameters.
public struct TestEvent: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case send
        case wait
    }

    public var kind: Kind
    public var resource: String
    /// Seconds; 90 unless given.
    public var timeout: Int
    public var params: [EventParam]
    public var location: SourceLocation

    public init(kind: Kind, resource: String, timeout: Int = 90, params: [EventParam] = [], location: SourceLocation) {
        self.kind = kind
        self.resource = resource
        self.timeout = timeout
        self.params = params
        self.location = location
    }
}

/// A `param` of an event.
public struct EventParam: Sendable, Hashable {
    public enum ValueType: String, Sendable, Hashable, CaseIterable {
        case null, boolean, number, object, array, string
    }

    public var type: ValueType
    public var name: String
    public var value: String

    public init(type: ValueType, name: String, value: String) {
        self.type = type
        self.name = name
        self.value = value
    }
}
