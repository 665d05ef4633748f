import Foundation

/// The result of a step, a case, an event: the results schema's
/// `PASS`, `FAIL` and `N/A`.
public enum TestOutcome: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    case pass = "PASS"
    case fail = "FAIL"
    case notApplicable = "N/A"

    public var description: String { rawValue }
}

/// The results of running one test definition, in the shape of
/// testdefinition-results.xsd (`testresults`).
public struct TestResults: Sendable, Hashable {
    public var version: String
    /// `hardware` unless given (testrunner-lite's `-e`).
    public var environment: String
    /// The target's product, `unknown` when not asked or not known.
    public var hwproduct: String
    /// The target's build, `unknown` when not asked or not known.
    public var hwbuild: String
    /// The definition's hardware id command, written back as testrunner-lite does.
    public var hwiddetect: String?
    public var description: String?
    /// testrunner-lite's `-u`: written as `<vcsurl>`.
    public var vcsURL: String?
    /// testrunner-lite's `-U`: written as `<packageurl>`.
    public var packageURL: String?
    public var suites: [SuiteResult]

    public init(
        version: String = "1.0",
        environment: String = "hardware",
        hwproduct: String = "unknown",
        hwbuild: String = "unknown",
        hwiddetect: String? = nil,
        description: String? = nil,
        suites: [SuiteResult] = []
    ) {
        self.version = version
        self.environment = environment
        self.hwproduct = hwproduct
        self.hwbuild = hwbuild
        self.hwiddetect = hwiddetect
        self.description = description
        self.suites = suites
    }

    /// Every case result, in document order.
    public var allCases: [CaseResult] {
        suites.flatMap { $0.sets.flatMap(\.cases) }
    }
}

public struct SuiteResult: Sendable, Hashable {
    public var attributes: GeneralAttributes
    public var description: String?
    public var sets: [SetResult]

    public init(attributes: GeneralAttributes, description: String? = nil, sets: [SetResult] = []) {
        self.attributes = attributes
        self.description = description
        self.sets = sets
    }
}

public struct SetResult: Sendable, Hashable {
    public var attributes: GeneralAttributes
    public var environment: String?
    public var description: String?
    public var preSteps: [StepResult]
    public var preStepsTimeout: Int?
    public var postSteps: [StepResult]
    public var postStepsTimeout: Int?
    public var cases: [CaseResult]
    /// The files fetched after the set.
    public var get: [FetchFile]

    public init(
        attributes: GeneralAttributes,
        environment: String? = nil,
        description: String? = nil,
        preSteps: [StepResult] = [],
        postSteps: [StepResult] = [],
        cases: [CaseResult] = [],
        get: [FetchFile] = []
    ) {
        self.attributes = attributes
        self.environment = environment
        self.description = description
        self.preSteps = preSteps
        self.postSteps = postSteps
        self.cases = cases
        self.get = get
    }
}

public struct CaseResult: Sendable, Hashable {
    public var attributes: GeneralAttributes
    public var result: TestOutcome
    public var subfeature: String?
    public var comment: String?
    public var failureInfo: String?
    public var bugzillaID: Int?
    public var tcID: String?
    public var state: String?
    public var description: String?
    public var steps: [StepResult]
    public var events: [EventResult]
    public var measurements: [TestMeasurement]
    public var series: [MeasurementSeries]
    /// `-d`: the id that ties the case to the rich-core dumps made while it
    /// ran, when there were any.
    public var richCoreUUID: String?
    /// `-d`: the crash reports found for the case.
    public var crashIDs: [String] = []

    public init(
        attributes: GeneralAttributes,
        result: TestOutcome,
        subfeature: String? = nil,
        comment: String? = nil,
        failureInfo: String? = nil,
        bugzillaID: Int? = nil,
        tcID: String? = nil,
        state: String? = nil,
        description: String? = nil,
        steps: [StepResult] = [],
        events: [EventResult] = [],
        measurements: [TestMeasurement] = [],
        series: [MeasurementSeries] = []
    ) {
        self.attributes = attributes
        self.result = result
        self.subfeature = subfeature
        self.comment = comment
        self.failureInfo = failureInfo
        self.bugzillaID = bugzillaID
        self.tcID = tcID
        self.state = state
        self.description = description
        self.steps = steps
        self.events = events
        self.measurements = measurements
        self.series = series
    }

    public var name: String { attributes.name }
    public var isInsignificant: Bool { attributes.insignificant ?? false }
}

public struct StepResult: Sendable, Hashable {
    public var command: String
    public var result: TestOutcome
    public var manual: Bool?
    public var control: String?
    public var failureInfo: String?
    public var expectedResult: Int
    /// Nil when the step did not run (N/A).
    public var returnCode: Int?
    public var start: Date
    public var end: Date
    public var stdout: String?
    public var stderr: String?
    /// The set's post-reboot steps, run after this step rebooted the target.
    public var postRebootSteps: [StepResult]

    public init(
        command: String,
        result: TestOutcome,
        manual: Bool? = nil,
        control: String? = nil,
        failureInfo: String? = nil,
        expectedResult: Int = 0,
        returnCode: Int? = nil,
        start: Date,
        end: Date,
        stdout: String? = nil,
        stderr: String? = nil,
        postRebootSteps: [StepResult] = []
    ) {
        self.command = command
        self.result = result
        self.manual = manual
        self.control = control
        self.failureInfo = failureInfo
        self.expectedResult = expectedResult
        self.returnCode = returnCode
        self.start = start
        self.end = end
        self.stdout = stdout
        self.stderr = stderr
        self.postRebootSteps = postRebootSteps
    }
}

public struct EventResult: Sendable, Hashable {
    public var kind: TestEvent.Kind
    public var resource: String
    public var timeout: Int
    public var params: [EventParam]
    public var result: TestOutcome

    public init(kind: TestEvent.Kind, resource: String, timeout: Int, params: [EventParam], result: TestOutcome) {
        self.kind = kind
        self.resource = resource
        self.timeout = timeout
        self.params = params
        self.result = result
    }
}

/// One measured value, with the limits that judge it.
public struct TestMeasurement: Sendable, Hashable, Codable {
    public var name: String
    public var value: Double
    public var unit: String
    public var target: Double?
    public var failure: Double?

    public init(name: String, value: Double, unit: String, target: Double? = nil, failure: Double? = nil) {
        self.name = name
        self.value = value
        self.unit = unit
        self.target = target
        self.failure = failure
    }

    /// Why the value fails its case, or nil. As in testrunner-lite, only a
    /// measurement with both limits is judged: when the target is above
    /// the failure limit a value at or below the limit fails ("too small");
    /// when it is below, a value at or above the limit fails ("too big").
    public var verdict: String? {
        guard let target, let failure, target != failure else { return nil }
        if target > failure, value <= failure { return "\(name) - measured value too small" }
        if target < failure, value >= failure { return "\(name) - measured value too big" }
        return nil
    }

    public var breaksFailureLimit: Bool { verdict != nil }
}

/// A series of measured values over time.
public struct MeasurementSeries: Sendable, Hashable, Codable {
    public struct Point: Sendable, Hashable, Codable {
        public var value: Double
        public var timestamp: Date?

        public init(value: Double, timestamp: Date? = nil) {
            self.value = value
            self.timestamp = timestamp
        }
    }

    public var name: String
    public var unit: String
    public var group: String?
    public var target: Double?
    public var failure: Double?
    public var interval: Int?
    public var intervalUnit: String?
    public var points: [Point]

    public init(
        name: String,
        unit: String,
        group: String? = nil,
        target: Double? = nil,
        failure: Double? = nil,
        interval: Int? = nil,
        intervalUnit: String? = nil,
        points: [Point] = []
    ) {
        self.name = name
        self.unit = unit
        self.group = group
        self.target = target
        self.failure = failure
        self.interval = interval
        self.intervalUnit = intervalUnit
        self.points = points
    }

    /// Why the series fails its case, or nil; judged like `TestMeasurement`.
    public var verdict: String? {
        guard let target, let failure, target != failure else { return nil }
        for point in points {
            if target > failure, point.value <= failure { return "\(name) - measurement series value below failure limit" }
            if target < failure, point.value >= failure { return "\(name) - measurement series value over failure limit" }
        }
        return nil
    }

    public var breaksFailureLimit: Bool { verdict != nil }
}
