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
    /// `-R`: what to do when a lost target comes back (testrunner-lite's
    /// resume): after the set in which the connection was lost, wait for
    /// the target (up to 300 s); then run the set's post-steps and fetch its
    /// files, and either end the run (`exit`) or go on with the next sets
    /// (`continue`). Nil: a lost target ends the run.
    public var resume: ResumeAction?

    public enum ResumeAction: String, Sendable, Hashable, CaseIterable {
        case exit
        case `continue`
    }

    /// `-i`: ask this target, not the one steps run on, for the product
    /// and build.
    public var hardwareInfoTarget: ExecutionTarget?
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
    /// `--utf8-limit`: the longest UTF-8 sequence (1 to 4 bytes) taken as
    /// valid step output; output with a longer one is handled as invalid
    /// UTF-8 (kept raw in a file beside the results).
    public var utf8Limit = 4
    /// `-d`: the folder on the target where sp-rich-core writes its dumps;
    /// each case's dumps are fetched and named in its results.
    public var richCoreDumps: String?
    /// `-T`: how long to wait after a case for its crash reports (0: do
    /// not wait, -1: no limit). Used with `richCoreDumps`.
    public var coreUploadTimeout = 0
    /// `--measure-power`: record each case's current with the host's
    /// `hat_ctrl` (a series "Current samples" in mA, every 200 ms).
    public var measurePower = false
    /// The `hat_ctrl` command for `measurePower`.
    public var hatControl = "hat_ctrl"

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
