/// Splits estimated work into tasks that finish together (pure).
///
/// Longest-processing-time-first: items, longest first, each go to the task
/// with the least work so far; each task runs its longest items first, after
/// those whose estimates are least to be trusted (`surprisesFirst`).
/// Each task also pays a fixed cost (image download, flashing, booting).
/// The number of tasks is at most `maxTasks` (the workers available, capped
/// by the request's `max_worker_amount`); among those, the plan takes the
/// number whose estimated makespan is smallest (the most tasks on a tie: as
/// many as there are workers unless fewer are estimated faster), or, with a
/// target, the smallest number that meets it.
public struct SetScheduler: Sendable, Hashable {
    /// Seconds every task costs before its first set runs.
    public var taskCost: Double
    /// At most this many tasks (at least 1).
    public var maxTasks: Int
    /// Seconds the testrun should take at most, when the requestor said.
    public var target: Double?

    public init(taskCost: Double, maxTasks: Int, target: Double? = nil) {
        self.taskCost = max(0, taskCost)
        self.maxTasks = max(1, maxTasks)
        self.target = target
    }

    /// A plan over items given by their estimated seconds.
    public struct Schedule: Sendable, Hashable {
        /// Item indices per task, in run order; tasks with the most work first.
        public var tasks: [[Int]]
        /// Estimated seconds of work per task (without the task cost).
        public var loads: [Double]
        public var taskCost: Double
        /// True when a target was given and the plan meets it.
        public var meetsTarget: Bool?

        /// Estimated seconds from the first claim to the last task's end,
        /// one worker per task.
        public var estimatedMakespan: Double { tasks.isEmpty ? 0 : taskCost + (loads.max() ?? 0) }
        /// Estimated device seconds, task costs included.
        public var estimatedDeviceTime: Double { Double(tasks.count) * taskCost + loads.reduce(0, +) }
    }

    /// The plan for items of `seconds` each; `unknown[i]` says the estimate
    /// of item i is not from its own history (a set never seen).
    public func plan(_ seconds: [Double], unknown: [Bool] = []) -> Schedule {
        guard !seconds.isEmpty else { return Schedule(tasks: [], loads: [], taskCost: taskCost, meetsTarget: target.map { _ in true }) }
        let order = Self.longestFirst(seconds)
        let limit = min(maxTasks, seconds.count)
        var best: Schedule?
        for count in 1...limit {
            let schedule = Self.surprisesFirst(Self.lpt(seconds, order: order, tasks: count, cost: taskCost), seconds, unknown: unknown)
            if let target, schedule.estimatedMakespan <= target {
                var met = schedule
                met.meetsTarget = true
                return met
            }
            // On a tie the more tasks win: the same estimate with less work
            // per task leaves more room for estimates that are off.
            if best == nil || schedule.estimatedMakespan <= best!.estimatedMakespan + 1e-9 {
                best = schedule
            }
        }
        var chosen = best!
        if target != nil { chosen.meetsTarget = false }
        return chosen
    }

    /// Below this estimate a set costs next to nothing where it runs, so
    /// its place is free to choose (seconds). Sets whose cases were skipped
    /// in their recent runs are such sets.
    public static let negligibleSeconds = 0.5

    /// The order inside each task: first the sets estimated at next to
    /// nothing, then the sets never seen (longest first), then the rest
    /// longest first. An estimate that is far off hurts most at the end of a
    /// task, where nothing is left to move: a set taken for nothing that
    /// runs for real, or a new one longer than its folder's sets, started
    /// last, ends the testrun late. Run first, their true length is known
    /// while the task's other sets can still move to idle workers; and
    /// those that are as short as thought delay the rest by little (under
    /// `negligibleSeconds` each, or what they cost anywhere else). The
    /// assignment to tasks stays longest first by estimate.
    static func surprisesFirst(_ schedule: Schedule, _ seconds: [Double], unknown: [Bool]) -> Schedule {
        func isUnknown(_ index: Int) -> Bool { index < unknown.count && unknown[index] }
        var schedule = schedule
        schedule.tasks = schedule.tasks.map { task in
            let negligible = task.filter { seconds[$0] < negligibleSeconds }
            let rest = task.filter { seconds[$0] >= negligibleSeconds }
            return negligible + rest.filter(isUnknown) + rest.filter { !isUnknown($0) }
        }
        return schedule
    }

    /// Indices of `seconds`, longest first; equal ones keep their order.
    static func longestFirst(_ seconds: [Double]) -> [Int] {
        seconds.indices.sorted { seconds[$0] > seconds[$1] || (seconds[$0] == seconds[$1] && $0 < $1) }
    }

    /// Longest-processing-time-first onto exactly `tasks` tasks (fewer when
    /// there are fewer items).
    public static func lpt(_ seconds: [Double], order: [Int]? = nil, tasks count: Int, cost: Double = 0) -> Schedule {
        let order = order ?? longestFirst(seconds)
        let count = max(1, min(count, seconds.count))
        var tasks = Array(repeating: [Int](), count: count)
        var loads = Array(repeating: 0.0, count: count)
        for index in order {
            // The least loaded task; the first one on a tie.
            var target = 0
            for candidate in 1..<count where loads[candidate] < loads[target] {
                target = candidate
            }
            tasks[target].append(index)
            loads[target] += seconds[index]
        }
        let byLoad = loads.indices.sorted { loads[$0] > loads[$1] || (loads[$0] == loads[$1] && $0 < $1) }
        return Schedule(
            tasks: byLoad.map { tasks[$0] }.filter { !$0.isEmpty }, loads: byLoad.filter { !tasks[$0].isEmpty }.map { loads[$0] },
            taskCost: cost)
    }
}
