import OTSCore

/// The `history` model: tasks that finish together, planned at the set level
/// from recorded run times, with the fixed cost of each task counted.
///
/// What it plans from comes from `inputs` (the server reads the store); the
/// planning itself, `plan(_:inputs:)`, is pure.
public struct HistoryModel: DistributionModel {
    /// What the model plans from.
    public struct Inputs: Sendable, Hashable {
        /// The request's packages, with their sets where known.
        public var packages: [PackageStructure]
        /// Recorded runs of those packages on the device group, newest first.
        public var samples: [RunTimeSample]
        /// Seconds a task costs before its tests (image, flashing, booting)
        /// from the monitor's statistics; nil when there are none.
        public var taskCost: Double?
        /// Workers online whose device satisfies the routing key.
        public var availableWorkers: Int
        /// Monitor-queue messages not yet consumed, when known.
        public var monitorBacklog: Int?
        /// What gathering the inputs found worth saying.
        public var notes: [String]

        public init(
            packages: [PackageStructure], samples: [RunTimeSample], taskCost: Double?, availableWorkers: Int,
            monitorBacklog: Int? = nil, notes: [String] = []
        ) {
            self.packages = packages
            self.samples = samples
            self.taskCost = taskCost
            self.availableWorkers = availableWorkers
            self.monitorBacklog = monitorBacklog
            self.notes = notes
        }
    }

    public var name: String { "history" }
    public var estimator: RunTimeEstimator
    /// The task cost when the monitor has no phase statistics.
    public var defaultTaskCost: Double
    /// A backlog from which the monitor counts as behind.
    public var backlogLimit: Int
    let inputs: @Sendable (DistributionRequest) async throws -> Inputs

    public init(
        estimator: RunTimeEstimator = RunTimeEstimator(), defaultTaskCost: Double = 120, backlogLimit: Int = 1000,
        inputs: @escaping @Sendable (DistributionRequest) async throws -> Inputs
    ) {
        self.estimator = estimator
        self.defaultTaskCost = defaultTaskCost
        self.backlogLimit = backlogLimit
        self.inputs = inputs
    }

    public func plan(_ request: DistributionRequest) async throws -> DistributionPlan {
        plan(request, inputs: try await inputs(request))
    }

    /// The plan for `request` from `inputs`.
    public func plan(_ request: DistributionRequest, inputs: Inputs) -> DistributionPlan {
        var notes = inputs.notes
        let estimates = estimator.estimate(inputs.packages, samples: inputs.samples)
        let cost = inputs.taskCost ?? defaultTaskCost
        var maxTasks = inputs.availableWorkers
        if maxTasks < 1 {
            maxTasks = request.maxWorkerAmount ?? 1
            notes.append("no worker online for \(request.device.requestedRoutingKey); planned for \(maxTasks)")
        }
        if let limit = request.maxWorkerAmount { maxTasks = min(maxTasks, limit) }
        let scheduler = SetScheduler(taskCost: cost, maxTasks: maxTasks, target: request.targetExecutionTime.map(Double.init))
        let schedule = scheduler.plan(estimates.items.map(\.seconds), unknown: estimates.items.map { !$0.source.isRecorded })

        var taskOf = Array(repeating: 0, count: estimates.items.count)
        for (task, indices) in schedule.tasks.enumerated() {
            for index in indices { taskOf[index] = task }
        }
        let tasks = schedule.tasks.indices.map { task in
            Self.work(task: task, schedule: schedule, items: estimates.items, taskOf: taskOf, structures: inputs.packages)
        }

        let noHistory = Set(
            Dictionary(grouping: estimates.items, by: \.package.name).filter { $0.value.allSatisfy { !$0.source.isRecorded } }.keys)
        let behind = (inputs.monitorBacklog ?? 0) >= backlogLimit
        if let backlog = inputs.monitorBacklog, backlog > 0 {
            notes.append("the monitor has \(backlog) events to consume\(behind ? "; history may miss the latest runs" : "")")
        }
        if inputs.taskCost == nil {
            notes.append(
                "no flash and boot statistics for \(request.device.devicegroup); task cost taken as \(DurationText.seconds(cost, coarse: true))"
            )
        }
        if !noHistory.isEmpty {
            notes.append(
                "no history for \(noHistory.count) of \(inputs.packages.count) packages: planned by case counts and the rules for unknown sets"
            )
        }
        let keptWhole = inputs.packages.filter { $0.whole && !($0.sets ?? []).isEmpty }
        if !keptWhole.isEmpty {
            notes.append("\(keptWhole.count) packages kept whole by their definitions: each runs in one task, in definition order")
        }
        if let met = schedule.meetsTarget, !met {
            notes.append("target_execution_time \(request.targetExecutionTime ?? 0) s cannot be met; planned for the shortest run")
        }
        notes.insert(
            "\(tasks.count) tasks for \(estimates.items.count) sets and packages, estimated \(DurationText.seconds(schedule.estimatedMakespan, coarse: true)) "
                + "with \(DurationText.seconds(cost, coarse: true)) per task; \(inputs.availableWorkers) workers available"
                + (request.maxWorkerAmount.map { ", max_worker_amount \($0)" } ?? ""),
            at: 0)
        notes += estimates.notes

        var record = PlanRecord(model: name, tasks: tasks.count, notes: notes)
        record.workersAvailable = inputs.availableWorkers
        record.maxWorkerAmount = request.maxWorkerAmount
        record.targetExecutionTime = request.targetExecutionTime
        record.meetsTarget = schedule.meetsTarget
        record.taskCostSeconds = cost
        record.taskCostSource = inputs.taskCost == nil ? "default" : "statistics"
        record.estimatedMakespanSeconds = schedule.estimatedMakespan
        record.estimatedDeviceSeconds = schedule.estimatedDeviceTime
        record.historyRuns = inputs.samples.count
        record.historyIgnored = inputs.samples.filter { !$0.counts }.count
        record.monitorBacklog = inputs.monitorBacklog
        record.degraded = behind || !noHistory.isEmpty
        record.estimates = estimates.items.enumerated().map { index, item in
            PlanRecord.Estimate(
                package: item.package.name, set: item.set, seconds: item.seconds, source: item.source.rawValue, task: taskOf[index])
        }
        return DistributionPlan(tasks: tasks, notes: notes, record: record)
    }

    /// A task's packages, in the order of their first sets, each with its
    /// sets in the order they run: those estimated at next to nothing, then
    /// those never seen, then longest estimated first. A package
    /// all of whose sets are in this task runs whole; one whose sets were
    /// learned from history (it may hold sets no one knows of) runs the
    /// rest in the task holding its longest set.
    static func work(
        task: Int, schedule: SetScheduler.Schedule, items: [RunTimeEstimates.Item], taskOf: [Int], structures: [PackageStructure]
    ) -> TaskWork {
        var order: [PackageRequest] = []
        var sets: [PackageRequest: [String]] = [:]
        var whole: Set<PackageRequest> = []
        for index in schedule.tasks[task] {
            let item = items[index]
            if sets[item.package] == nil && !whole.contains(item.package) { order.append(item.package) }
            if let set = item.set { sets[item.package, default: []].append(set) } else { whole.insert(item.package) }
        }
        let complete = Dictionary(structures.map { ($0.package, $0.setsAreComplete) }, uniquingKeysWith: { first, _ in first })
        return TaskWork(
            packages: order.map { package in
                // A package kept whole runs in definition order: its sets may depend on it.
                guard let mine = sets[package] else { return TaskWork.Package(package) }
                // The schedule lists a task's sets in the order they run.
                let elsewhere = items.indices.filter { items[$0].package == package && taskOf[$0] != task }.compactMap { items[$0].set }
                if elsewhere.isEmpty { return TaskWork.Package(package, setOrder: mine) }
                if complete[package] ?? true { return TaskWork.Package(package, sets: mine, setOrder: mine) }
                let members = items.indices.filter { items[$0].package == package }
                let longest = members.max { items[$0].seconds < items[$1].seconds || (items[$0].seconds == items[$1].seconds && $0 > $1) }!
                if taskOf[longest] == task { return TaskWork.Package(package, skipSets: elsewhere, setOrder: mine) }
                return TaskWork.Package(package, sets: mine, setOrder: mine)
            })
    }

}
