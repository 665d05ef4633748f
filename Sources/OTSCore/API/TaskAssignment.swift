/// A task handed to a worker instance by a claim: everything it needs to
/// run it.
public struct TaskAssignment: Sendable, Hashable, Codable {
    public var taskID: String
    public var testrunID: String
    /// Which claim of the task this is (from 1).
    public var attempt: Int
    public var image: String?
    public var imageChecksum: String?
    public var swProduct: String?
    public var device: DeviceProperties
    public var work: TaskWork
    public var testfilter: String?
    public var flasherOptions: [String]?
    public var detailLevel: TestrunRequest.DetailLevel
    /// Seconds the task may run.
    public var executionTimeout: Int
    /// Ask the server before each set (`POST /api/v1/tasks/{id}/sets`):
    /// dynamic balancing may move sets not yet started to another task.
    public var askBeforeSets: Bool?
    /// Balancing gave this task to a device that holds its image (it ran
    /// a task of the testrun, or last flashed the same image): the
    /// instance runs it on the device as it is, without flashing or
    /// booting, when it knows the device holds that image itself.
    public var deviceHoldsImage: Bool?
    /// Insignificant failures count (the request's `count_insignificant`):
    /// the worker's package verdicts follow the same `VerdictRules` as
    /// the server's testrun verdict.
    public var countInsignificant: Bool?
    /// Whose verdict rules (the request's `verdict_rules`; nil is OTS's).
    public var verdictMode: VerdictRules.Mode?

    enum CodingKeys: String, CodingKey {
        case taskID = "task_id"
        case testrunID = "testrun_id"
        case attempt, image
        case imageChecksum = "image_checksum"
        case swProduct = "sw_product"
        case device, work, testfilter
        case flasherOptions = "flasher_options"
        case detailLevel = "detail_level"
        case executionTimeout = "execution_timeout"
        case askBeforeSets = "ask_before_sets"
        case deviceHoldsImage = "device_holds_image"
        case countInsignificant = "count_insignificant"
        case verdictMode = "verdict_rules"
    }

    public init(
        taskID: String,
        testrunID: String,
        attempt: Int,
        image: String?,
        imageChecksum: String? = nil,
        swProduct: String?,
        device: DeviceProperties,
        work: TaskWork,
        testfilter: String?,
        flasherOptions: [String]?,
        detailLevel: TestrunRequest.DetailLevel,
        executionTimeout: Int,
        askBeforeSets: Bool? = nil,
        countInsignificant: Bool? = nil,
        verdictMode: VerdictRules.Mode? = nil
    ) {
        self.verdictMode = verdictMode
        self.askBeforeSets = askBeforeSets
        self.countInsignificant = countInsignificant
        self.taskID = taskID
        self.testrunID = testrunID
        self.attempt = attempt
        self.image = image
        self.imageChecksum = imageChecksum
        self.swProduct = swProduct
        self.device = device
        self.work = work
        self.testfilter = testfilter
        self.flasherOptions = flasherOptions
        self.detailLevel = detailLevel
        self.executionTimeout = executionTimeout
    }
}

/// How a worker ended a task (`POST /api/v1/tasks/{id}/finish`): with a
/// verdict of its packages, or with an error that kept it from producing one.
public struct TaskFinish: Sendable, Hashable, Codable {
    public typealias Failure = CategorizedError

    public var workerID: String
    public var verdict: Verdict?
    public var error: Failure?

    enum CodingKeys: String, CodingKey {
        case workerID = "worker_id"
        case verdict, error
    }

    public init(workerID: String, verdict: Verdict? = nil, error: Failure? = nil) {
        self.workerID = workerID
        self.verdict = verdict
        self.error = error
    }
}

/// Events sent together (`POST /api/v1/events`).
public struct EventBatch: Sendable, Hashable, Codable {
    public var events: [MonitorEvent]

    public init(events: [MonitorEvent]) {
        self.events = events
    }

    /// The most events one batch may hold.
    public static let limit = 1000
}

/// The answer to an event batch.
public struct EventBatchReply: Sendable, Hashable, Codable {
    public var accepted: Int
    /// Events already received before (same id), ignored.
    public var duplicates: Int

    public init(accepted: Int, duplicates: Int) {
        self.accepted = accepted
        self.duplicates = duplicates
    }
}

/// A worker about to start a set of a task (`POST /api/v1/tasks/{id}/sets`).
public struct SetStart: Sendable, Hashable, Codable {
    public var workerID: String
    public var package: String
    public var set: String

    enum CodingKeys: String, CodingKey {
        case workerID = "worker_id"
        case package, set
    }

    public init(workerID: String, package: String, set: String) {
        self.workerID = workerID
        self.package = package
        self.set = set
    }
}

/// Whether to run the set: false when dynamic balancing moved it to
/// another task, which runs it.
public struct SetStartReply: Sendable, Hashable, Codable {
    public var run: Bool

    public init(run: Bool) {
        self.run = run
    }
}
