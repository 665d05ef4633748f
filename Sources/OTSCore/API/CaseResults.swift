import Foundation

/// One step of a case as OTS keeps it: the command, its return codes and
/// result, and a bounded excerpt of each stream; when an excerpt is cut,
/// the whole stream is a fetched file of the task (`stdout_file`).
public struct StepRecord: Sendable, Hashable, Codable {
    public var command: String
    /// PASS, FAIL or N/A.
    public var result: String
    public var expectedResult: Int
    /// Nil when the step did not run.
    public var returnCode: Int?
    public var failureInfo: String?
    public var durationMs: Int64?
    public var stdout: String?
    public var stderr: String?
    /// The task's fetched file (of the case's package) with the whole
    /// stream, when the excerpt is cut.
    public var stdoutFile: String?
    public var stderrFile: String?
    /// The whole stream's length in characters, when the excerpt is cut.
    public var stdoutLength: Int?
    public var stderrLength: Int?

    enum CodingKeys: String, CodingKey {
        case command, result
        case expectedResult = "expected_result"
        case returnCode = "return_code"
        case failureInfo = "failure_info"
        case durationMs = "duration_ms"
        case stdout, stderr
        case stdoutFile = "stdout_file"
        case stderrFile = "stderr_file"
        case stdoutLength = "stdout_length"
        case stderrLength = "stderr_length"
    }

    public init(
        command: String, result: String, expectedResult: Int = 0, returnCode: Int? = nil, failureInfo: String? = nil,
        durationMs: Int64? = nil, stdout: String? = nil, stderr: String? = nil
    ) {
        self.command = command
        self.result = result
        self.expectedResult = expectedResult
        self.returnCode = returnCode
        self.failureInfo = failureInfo
        self.durationMs = durationMs
        self.stdout = stdout
        self.stderr = stderr
    }

    /// How much of a stream, or of a command, a step keeps in its row.
    public enum Excerpt {
        /// Characters kept: the first `head` and the last `limit - head`.
        public static let limit = 2000
        public static let head = 500

        /// The excerpt of a text, and whether it was cut.
        public static func of(_ text: String) -> (text: String, cut: Bool) {
            guard text.count > limit else { return (text, false) }
            let omitted = text.count - limit
            return (String(text.prefix(head)) + "\n[… \(omitted) characters left out …]\n" + String(text.suffix(limit - head)), true)
        }
    }
}

/// One case of an uploaded results file, as the server tells the monitor.
public struct CaseRecord: Sendable, Hashable, Codable {
    public var set: String
    public var testCase: String
    /// Its place in the package's results (from 0).
    public var ordinal: Int
    /// PASS, FAIL or N/A.
    public var result: String
    public var significant: Bool
    public var durationMs: Int64?
    public var failureInfo: String?
    public var steps: [StepRecord]

    enum CodingKeys: String, CodingKey {
        case set
        case testCase = "case"
        case ordinal, result, significant
        case durationMs = "duration_ms"
        case failureInfo = "failure_info"
        case steps
    }

    public init(
        set: String, testCase: String, ordinal: Int, result: String, significant: Bool = true, durationMs: Int64? = nil,
        failureInfo: String? = nil, steps: [StepRecord] = []
    ) {
        self.set = set
        self.testCase = testCase
        self.ordinal = ordinal
        self.result = result
        self.significant = significant
        self.durationMs = durationMs
        self.failureInfo = failureInfo
        self.steps = steps
    }

    /// The step that failed the case: its first failing step.
    public var failingStep: StepRecord? { steps.first { $0.result == "FAIL" } }
}

/// Where a package ran: the worker instance, its device, the image and
/// the product, as the server knew them when the results came.
public struct RunContext: Sendable, Hashable, Codable {
    /// `host/instance`.
    public var worker: String
    public var device: DeviceProperties
    public var image: String?
    public var imageChecksum: String?
    public var swProduct: String?

    enum CodingKeys: String, CodingKey {
        case worker, device, image
        case imageChecksum = "image_checksum"
        case swProduct = "sw_product"
    }

    public init(worker: String, device: DeviceProperties, image: String? = nil, imageChecksum: String? = nil, swProduct: String? = nil) {
        self.worker = worker
        self.device = device
        self.image = image
        self.imageChecksum = imageChecksum
        self.swProduct = swProduct
    }
}

/// A fetched file of a task's package, by name.
public struct FileReference: Sendable, Hashable, Codable {
    public var name: String
    public var size: Int64

    public init(name: String, size: Int64) {
        self.name = name
        self.size = size
    }
}

/// The cases of one upload of a package's results, or a part of them: what
/// a `results.stored` message carries on the monitor queue beside the
/// event (`case_results`). An upload of many cases comes in parts.
public struct ResultsBatch: Sendable, Hashable, Codable {
    /// The upload's id: a package's results uploaded again replace those of
    /// the upload before.
    public var upload: String
    /// From 1 to `parts`.
    public var part: Int
    public var parts: Int
    public var run: RunContext
    /// The package's fetched files when the results came (first part only).
    public var files: [FileReference]?
    public var cases: [CaseRecord]

    public init(upload: String, part: Int, parts: Int, run: RunContext, files: [FileReference]? = nil, cases: [CaseRecord]) {
        self.upload = upload
        self.part = part
        self.parts = parts
        self.run = run
        self.files = files
        self.cases = cases
    }

    /// The most JSON (in bytes, roughly) of cases in one part.
    public static let partBytes = 256 * 1024
    /// The most cases in one part.
    public static let partCases = 2000
}

/// A `results.stored` message: the event, and the cases beside it. The
/// event store keeps the event; the cases go to the monitor's case results.
public struct ResultsMessage: Sendable, Hashable, Codable {
    public var event: MonitorEvent
    public var batch: ResultsBatch

    enum CodingKeys: String, CodingKey {
        case batch = "case_results"
    }

    public init(event: MonitorEvent, batch: ResultsBatch) {
        self.event = event
        self.batch = batch
    }

    public init(from decoder: any Decoder) throws {
        event = try MonitorEvent(from: decoder)
        batch = try decoder.container(keyedBy: CodingKeys.self).decode(ResultsBatch.self, forKey: .batch)
    }

    public func encode(to encoder: any Encoder) throws {
        try event.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(batch, forKey: .batch)
    }
}

/// Why a failure most likely happened, from the farm's own history, and
/// what shows it.
public struct LikelyCause: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        /// The device: this instance fails where its peers pass.
        case device
        /// The image: a regression, from a last good to a first bad image.
        case image
        /// The test: the case is flaky.
        case test
        /// Too little history to say.
        case unknown
    }

    public var kind: Kind
    /// One line that says it.
    public var summary: String
    /// The runs that show it, one line each.
    public var evidence: [String]
    /// The instance to blame (device).
    public var worker: String?
    /// The image before the regression, and the first with it (image).
    public var lastGoodImage: String?
    public var firstBadImage: String?
    /// How many more runs would tell (unknown).
    public var neededRuns: Int?

    enum CodingKeys: String, CodingKey {
        case kind, summary, evidence, worker
        case lastGoodImage = "last_good_image"
        case firstBadImage = "first_bad_image"
        case neededRuns = "needed_runs"
    }

    public init(
        kind: Kind, summary: String, evidence: [String] = [], worker: String? = nil, lastGoodImage: String? = nil,
        firstBadImage: String? = nil, neededRuns: Int? = nil
    ) {
        self.kind = kind
        self.summary = summary
        self.evidence = evidence
        self.worker = worker
        self.lastGoodImage = lastGoodImage
        self.firstBadImage = firstBadImage
        self.neededRuns = neededRuns
    }
}

/// A case result as the monitor answers it.
public struct CaseView: Sendable, Hashable, Codable {
    public var testrunID: String
    public var taskID: String
    public var attempt: Int
    public var package: String
    public var set: String
    public var testCase: String
    public var result: String
    public var significant: Bool
    public var durationMs: Int64?
    public var failureInfo: String?
    /// When its results reached the server.
    public var recordedAt: Date
    public var worker: String
    public var device: DeviceProperties
    public var image: String?
    public var imageChecksum: String?
    public var swProduct: String?
    /// For a failure: its likely cause.
    public var cause: LikelyCause?
    /// Only when one case is asked for.
    public var steps: [StepRecord]?

    enum CodingKeys: String, CodingKey {
        case testrunID = "testrun_id"
        case taskID = "task_id"
        case attempt, package, set
        case testCase = "case"
        case result, significant
        case durationMs = "duration_ms"
        case failureInfo = "failure_info"
        case recordedAt = "recorded_at"
        case worker, device, image
        case imageChecksum = "image_checksum"
        case swProduct = "sw_product"
        case cause, steps
    }

    public init(
        testrunID: String, taskID: String, attempt: Int, package: String, set: String, testCase: String, result: String,
        significant: Bool, durationMs: Int64?, failureInfo: String?, recordedAt: Date, worker: String, device: DeviceProperties,
        image: String?, imageChecksum: String?, swProduct: String?, cause: LikelyCause? = nil, steps: [StepRecord]? = nil
    ) {
        self.testrunID = testrunID
        self.taskID = taskID
        self.attempt = attempt
        self.package = package
        self.set = set
        self.testCase = testCase
        self.result = result
        self.significant = significant
        self.durationMs = durationMs
        self.failureInfo = failureInfo
        self.recordedAt = recordedAt
        self.worker = worker
        self.device = device
        self.image = image
        self.imageChecksum = imageChecksum
        self.swProduct = swProduct
        self.cause = cause
        self.steps = steps
    }

    /// `package/set/case`.
    public var path: String { "\(package)/\(set)/\(testCase)" }
}

/// A testrun's case results (`GET /api/v1/testruns/{id}/cases` of the
/// monitor), in package and results order.
public struct CaseList: Sendable, Hashable, Codable {
    /// The fetched files of one package of a task.
    public struct PackageFiles: Sendable, Hashable, Codable {
        public var taskID: String
        public var package: String
        public var files: [FileReference]

        enum CodingKeys: String, CodingKey {
            case taskID = "task_id"
            case package, files
        }

        public init(taskID: String, package: String, files: [FileReference]) {
            self.taskID = taskID
            self.package = package
            self.files = files
        }
    }

    public var testrunID: String
    public var cases: [CaseView]
    /// Each package's fetched files, as they were when its results came.
    public var files: [PackageFiles]

    enum CodingKeys: String, CodingKey {
        case testrunID = "testrun_id"
        case cases, files
    }

    public init(testrunID: String, cases: [CaseView], files: [PackageFiles] = []) {
        self.testrunID = testrunID
        self.cases = cases
        self.files = files
    }
}

/// Results of a case (or of a package's or set's cases) across testruns,
/// newest first (`GET /api/v1/history`).
public struct CaseHistory: Sendable, Hashable, Codable {
    public var package: String
    public var set: String?
    public var testCase: String?
    public var deviceGroup: String?
    public var runs: [CaseView]

    enum CodingKeys: String, CodingKey {
        case package, set
        case testCase = "case"
        case deviceGroup = "devicegroup"
        case runs
    }

    public init(package: String, set: String?, testCase: String?, deviceGroup: String?, runs: [CaseView]) {
        self.package = package
        self.set = set
        self.testCase = testCase
        self.deviceGroup = deviceGroup
        self.runs = runs
    }
}

/// One run of a case, as evidence names it.
public struct RunReference: Sendable, Hashable, Codable {
    public var testrunID: String
    public var worker: String
    public var result: String
    public var image: String?
    public var recordedAt: Date

    enum CodingKeys: String, CodingKey {
        case testrunID = "testrun_id"
        case worker, result, image
        case recordedAt = "recorded_at"
    }

    public init(testrunID: String, worker: String, result: String, image: String?, recordedAt: Date) {
        self.testrunID = testrunID
        self.worker = worker
        self.result = result
        self.image = image
        self.recordedAt = recordedAt
    }
}

/// A case the monitor finds flaky on a device group, and why.
public struct FlakyCase: Sendable, Hashable, Codable {
    /// Two runs with the same image and different results.
    public struct Contradiction: Sendable, Hashable, Codable {
        public var image: String?
        public var pass: RunReference
        public var fail: RunReference

        public init(image: String?, pass: RunReference, fail: RunReference) {
            self.image = image
            self.pass = pass
            self.fail = fail
        }
    }

    public var package: String
    public var set: String
    public var testCase: String
    public var deviceGroup: String
    /// The runs judged (PASS and FAIL, the newest N).
    public var runs: Int
    /// Result changes among them that neither a device nor an image explains.
    public var flips: Int
    public var flipRate: Double
    public var contradictions: [Contradiction]
    /// Since when it is flaky.
    public var since: Date
    /// The runs judged, newest first.
    public var recent: [RunReference]

    enum CodingKeys: String, CodingKey {
        case package, set
        case testCase = "case"
        case deviceGroup = "devicegroup"
        case runs, flips
        case flipRate = "flip_rate"
        case contradictions, since, recent
    }

    public init(
        package: String, set: String, testCase: String, deviceGroup: String, runs: Int, flips: Int, flipRate: Double,
        contradictions: [Contradiction], since: Date, recent: [RunReference]
    ) {
        self.package = package
        self.set = set
        self.testCase = testCase
        self.deviceGroup = deviceGroup
        self.runs = runs
        self.flips = flips
        self.flipRate = flipRate
        self.contradictions = contradictions
        self.since = since
        self.recent = recent
    }

    public var path: String { "\(package)/\(set)/\(testCase)" }
}

/// The flaky cases (`GET /api/v1/flaky`), and the rule that found them.
public struct FlakyList: Sendable, Hashable, Codable {
    public var deviceGroup: String?
    /// N: the newest runs judged.
    public var window: Int
    /// The flip rate from which a case is flaky.
    public var threshold: Double
    public var cases: [FlakyCase]

    enum CodingKeys: String, CodingKey {
        case deviceGroup = "devicegroup"
        case window, threshold, cases
    }

    public init(deviceGroup: String?, window: Int, threshold: Double, cases: [FlakyCase]) {
        self.deviceGroup = deviceGroup
        self.window = window
        self.threshold = threshold
        self.cases = cases
    }
}

/// A testrun's failures with their likely causes
/// (`GET /api/v1/testruns/{id}/causes`).
public struct CauseList: Sendable, Hashable, Codable {
    public var testrunID: String
    public var failures: [CaseView]

    enum CodingKeys: String, CodingKey {
        case testrunID = "testrun_id"
        case failures
    }

    public init(testrunID: String, failures: [CaseView]) {
        self.testrunID = testrunID
        self.failures = failures
    }
}

extension EventType {
    /// The server stored a package's results; the message carries its cases.
    public static let resultsStored: EventType = "results.stored"
    /// The monitor found a case flaky, or no longer flaky.
    public static let testFlaky: EventType = "test.flaky"
}
