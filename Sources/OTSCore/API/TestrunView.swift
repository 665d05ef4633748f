import Foundation

/// A testrun as the API shows it: its state, verdict, progress and tasks.
public struct TestrunView: Sendable, Hashable, Codable {
    public typealias Failure = CategorizedError

    public struct Progress: Sendable, Hashable, Codable {
        public var tasksDone: Int
        public var tasksTotal: Int
        public var packagesDone: Int
        public var packagesTotal: Int

        enum CodingKeys: String, CodingKey {
            case tasksDone = "tasks_done"
            case tasksTotal = "tasks_total"
            case packagesDone = "packages_done"
            case packagesTotal = "packages_total"
        }

        public init(tasksDone: Int, tasksTotal: Int, packagesDone: Int, packagesTotal: Int) {
            self.tasksDone = tasksDone
            self.tasksTotal = tasksTotal
            self.packagesDone = packagesDone
            self.packagesTotal = packagesTotal
        }
    }

    public struct TaskView: Sendable, Hashable, Codable {
        public var id: String
        public var sequence: Int
        public var state: TaskState
        /// What the worker is doing: image, flash, boot, test, upload.
        public var phase: String?
        public var packages: [String]
        /// What it runs: its packages, and their sets when it runs some.
        public var work: TaskWork?
        public var packagesDone: Int
        public var attempts: Int
        public var worker: String?
        public var flashTries: Int
        public var bootTries: Int
        public var verdict: Verdict?
        public var error: Failure?
        public var enqueuedAt: Date
        public var startedAt: Date?
        public var finishedAt: Date?

        enum CodingKeys: String, CodingKey {
            case id, sequence, state, phase, packages, work
            case packagesDone = "packages_done"
            case attempts, worker
            case flashTries = "flash_tries"
            case bootTries = "boot_tries"
            case verdict, error
            case enqueuedAt = "enqueued_at"
            case startedAt = "started_at"
            case finishedAt = "finished_at"
        }

        public init(
            id: String, sequence: Int, state: TaskState, phase: String?, packages: [String], packagesDone: Int, attempts: Int,
            worker: String?, flashTries: Int, bootTries: Int, verdict: Verdict?, error: Failure?, enqueuedAt: Date,
            startedAt: Date?, finishedAt: Date?, work: TaskWork? = nil
        ) {
            self.id = id
            self.work = work
            self.sequence = sequence
            self.state = state
            self.phase = phase
            self.packages = packages
            self.packagesDone = packagesDone
            self.attempts = attempts
            self.worker = worker
            self.flashTries = flashTries
            self.bootTries = bootTries
            self.verdict = verdict
            self.error = error
            self.enqueuedAt = enqueuedAt
            self.startedAt = startedAt
            self.finishedAt = finishedAt
        }
    }

    public var id: String
    public var state: TestrunState
    public var verdict: Verdict?
    public var error: Failure?
    public var request: TestrunRequest
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    public var progress: Progress
    /// How it was split into tasks, and on what data.
    public var plan: PlanRecord?
    /// The tasks; left out of lists.
    public var tasks: [TaskView]?
    /// The worker instance this testrun is the health check of.
    public var healthCheck: String?
    /// What the submitter should know (the answer to a submit only): no
    /// good or unknown instance serves its device, say.
    public var warnings: [String]?

    enum CodingKeys: String, CodingKey {
        case id, state, verdict, error, request
        case createdAt = "created_at"
        case startedAt = "started_at"
        case finishedAt = "finished_at"
        case progress, plan, tasks
        case healthCheck = "health_check"
        case warnings
    }

    public init(
        id: String, state: TestrunState, verdict: Verdict?, error: Failure?, request: TestrunRequest, createdAt: Date, startedAt: Date?,
        finishedAt: Date?, progress: Progress, tasks: [TaskView]?, plan: PlanRecord? = nil, healthCheck: String? = nil
    ) {
        self.plan = plan
        self.healthCheck = healthCheck
        self.id = id
        self.state = state
        self.verdict = verdict
        self.error = error
        self.request = request
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.progress = progress
        self.tasks = tasks
    }

    public var isEnded: Bool { state.isEnded }
}

/// A list of testruns (`GET /api/v1/testruns`).
public struct TestrunList: Sendable, Hashable, Codable {
    public var testruns: [TestrunView]

    public init(testruns: [TestrunView]) {
        self.testruns = testruns
    }
}

/// A rejected request: what was wrong and, where one field was, which.
public struct APIProblem: Sendable, Hashable, Codable, Error, CustomStringConvertible {
    public var error: String
    public var message: String
    public var field: String?

    public init(error: String, message: String, field: String? = nil) {
        self.error = error
        self.message = message
        self.field = field
    }

    public var description: String { message }
}
