import TestDefinition

/// How `Runner` executes a definition: testrunner-lite's options.
public struct RunConfiguration: Sendable {
    /// Which cases run: automatic ones, manual ones or both (testrunner-lite
    /// runs both unless `-a` or `-m` is given).
    public enum Mode: String, Sendable, Hashable {
        case automatic
        case manual
        case both
    }

    /// Where steps run.
    public var target: ExecutionTarget = .local
    /// `-G`: the words of a command that copies `<FILE>` from the target to
    /// `<DEST>`; nil uses scp for SSH targets and a plain copy otherwise.
    public var getter: [String]?
    /// `-e`: the environment the results name (`hardware` by default).
    public var environment = "hardware"
    public var mode: Mode = .both
    public var filter = TestFilter()
    /// Run only these sets (by suite and set name); nil runs every set.
    /// OTS uses this to give a task some of a package's sets.
    public var onlySets: Set<SetReference>?
    /// Set names in the order to run them: the sets named run first, in
    /// this order (one name in several suites: in definition order), the
    /// others after them in definition order. Nil runs every set in
    /// definition order, as testrunner-lite does. Results list the suites
    /// in definition order, each with its sets in the order they ran.
    /// OTS uses this for the plan's order (longest estimated first).
    public var setOrder: [String]?
    /// Asked just before each set that would run; false skips it (it is
    /// not run and not written: another run takes it). An error stops the run.
    public var setGate: (@Sendable (SetReference) async throws -> Bool)?
    /// `-H` turns this off: ask the target for its product and build.
    public var collectHardwareInfo = true
    /// `-M` turns this off: a measurement beyond its failure limit fails
    /// its case.
    public var measurementVerdict = true
    /// Where fetched files and outputs too long for the results go.
    public var resultsDirectory: String
    /// Bytes of a step's stdout or stderr kept in the results; more is kept
    /// in a file in `resultsDirectory`.
    public var inlineOutputLimit = 64 * 1024
    /// Environment variables added to every step's.
    public var stepEnvironment: [String: String] = [:]

    public init(resultsDirectory: String) {
        self.resultsDirectory = resultsDirectory
    }
}

/// A set named by its suite.
public struct SetReference: Sendable, Hashable, Codable, CustomStringConvertible {
    public var suite: String
    public var set: String

    public init(suite: String, set: String) {
        self.suite = suite
        self.set = set
    }

    public var description: String { "\(suite)/\(set)" }
}
