/// How a testrun was split into tasks, and what the split was based on:
/// recorded with the testrun (`plan` in its view) and told in the
/// `testrun.planned` event.
public struct PlanRecord: Sendable, Hashable, Codable {
    /// One estimated run time the plan used.
    public struct Estimate: Sendable, Hashable, Codable {
        public var package: String
        /// Nil for a package planned whole.
        public var set: String?
        public var seconds: Double
        /// Where it came from: `last_run`, `median_of_recent`, `set_sum`,
        /// `package_mean`, `all_sets_median`, `all_packages_median`,
        /// `cases` or `unknown`.
        public var source: String
        /// The task (its sequence) it went to.
        public var task: Int

        public init(package: String, set: String?, seconds: Double, source: String, task: Int) {
            self.package = package
            self.set = set
            self.seconds = seconds
            self.source = source
            self.task = task
        }
    }

    public var model: String
    public var tasks: Int
    public var notes: [String]
    /// Workers online whose device satisfies the routing key.
    public var workersAvailable: Int?
    public var maxWorkerAmount: Int?
    public var targetExecutionTime: Int?
    /// Whether the estimated makespan meets `target_execution_time`.
    public var meetsTarget: Bool?
    /// Seconds each task costs before its tests (image, flashing, booting).
    public var taskCostSeconds: Double?
    /// `statistics` (the monitor's phase durations of the device group) or
    /// `default` (no statistics).
    public var taskCostSource: String?
    public var estimatedMakespanSeconds: Double?
    public var estimatedDeviceSeconds: Double?
    /// Recorded runs read, and how many of them did not count.
    public var historyRuns: Int?
    public var historyIgnored: Int?
    /// Monitor-queue messages the monitor had not consumed yet (history
    /// may lag that much).
    public var monitorBacklog: Int?
    /// True when the plan rests on incomplete data: no history for some
    /// packages, or the monitor behind.
    public var degraded: Bool?
    public var estimates: [Estimate]?

    enum CodingKeys: String, CodingKey {
        case model, tasks, notes
        case workersAvailable = "workers_available"
        case maxWorkerAmount = "max_worker_amount"
        case targetExecutionTime = "target_execution_time"
        case meetsTarget = "meets_target"
        case taskCostSeconds = "task_cost_seconds"
        case taskCostSource = "task_cost_source"
        case estimatedMakespanSeconds = "estimated_makespan_seconds"
        case estimatedDeviceSeconds = "estimated_device_seconds"
        case historyRuns = "history_runs"
        case historyIgnored = "history_ignored"
        case monitorBacklog = "monitor_backlog"
        case degraded, estimates
    }

    public init(model: String, tasks: Int, notes: [String]) {
        self.model = model
        self.tasks = tasks
        self.notes = notes
    }
}
