import Distribution

/// Plays a plan out on a number of workers with the sets' actual durations
/// (pure): what `ots bench schedule` scores.
///
/// Tasks are pulled in plan order by free workers; each task costs
/// `taskCost` and then its sets, one after the other. With balancing, a
/// worker that finds no queued task asks the `Rebalancer` (with the
/// estimates, as the server would) and runs the sets it moves as a new task,
/// paying `reuseCost` when it already ran a task of the testrun (it holds
/// the image), `taskCost` otherwise. An idle worker asks again whenever a
/// set ends. A running set is shown to the balancer as the server shows it:
/// its estimate less the time it has run (negative once it has overrun).
public struct ScheduleSimulation: Sendable {
    public struct Item: Sendable, Hashable {
        public var estimate: Double
        public var actual: Double

        public init(estimate: Double, actual: Double) {
            self.estimate = estimate
            self.actual = actual
        }
    }

    public struct Outcome: Sendable, Hashable {
        /// Seconds from the start to the end of the last task.
        public var makespan: Double
        /// Device seconds: every task's cost and sets.
        public var deviceTime: Double
        /// Tasks run, those balancing made included.
        public var tasks: Int
        /// Tasks balancing made.
        public var moves: Int
    }

    public var workers: Int
    public var taskCost: Double
    public var balancing: Bool
    public var reuseCost: Double

    public init(workers: Int, taskCost: Double, balancing: Bool = false, reuseCost: Double = 0) {
        self.workers = max(1, workers)
        self.taskCost = taskCost
        self.balancing = balancing
        self.reuseCost = reuseCost
    }

    private struct Worker {
        var busy = false
        var holdsImage = false
        /// When the current phase (the task cost, or a set) ends.
        var phaseEnd = 0.0
        /// The set running, nil during the task cost.
        var current: Item?
        var currentStart = 0.0
        var pending: [Item] = []
        var finished = 0.0
    }

    /// Runs `tasks` (their items in run order).
    public func run(_ tasks: [[Item]]) -> Outcome {
        var queue = tasks[...]
        var pool = Array(repeating: Worker(), count: workers)
        var deviceTime = 0.0
        var taskCount = 0
        var moves = 0
        var now = 0.0

        func start(_ worker: Int, _ items: [Item], cost: Double) {
            pool[worker].busy = true
            pool[worker].holdsImage = true
            pool[worker].current = nil
            pool[worker].pending = items
            pool[worker].phaseEnd = now + cost
            deviceTime += cost + items.reduce(0) { $0 + $1.actual }
            taskCount += 1
        }
        func assignIdle() {
            // Views of the running tasks, built when first needed after a change.
            var running: [Int] = []
            var views: [Rebalancer.RunningTask]?
            // Costs for which no move was found since the last change.
            var refused: Set<Double> = []
            for index in pool.indices where !pool[index].busy {
                if let next = queue.popFirst() {
                    start(index, next, cost: taskCost)
                    views = nil
                    refused = []
                    continue
                }
                guard balancing else { continue }
                let cost = pool[index].holdsImage ? reuseCost : taskCost
                if refused.contains(cost) { continue }
                if views == nil {
                    running = pool.indices.filter { pool[$0].busy }
                    views = running.map { index in
                        let worker = pool[index]
                        let started =
                            worker.current.map { $0.estimate - (now - worker.currentStart) } ?? (worker.phaseEnd - now)
                        return Rebalancer.RunningTask(started: started, pending: worker.pending.map(\.estimate))
                    }
                }
                guard let move = Rebalancer.decide(views!, cost: cost) else {
                    refused.insert(cost)
                    continue
                }
                let victim = running[move.task]
                let taken = Array(pool[victim].pending[move.first...])
                pool[victim].pending.removeSubrange(move.first...)
                deviceTime -= taken.reduce(0) { $0 + $1.actual }
                start(index, taken, cost: cost)
                moves += 1
                views = nil
                refused = []
            }
        }

        assignIdle()
        while let next = pool.indices.filter({ pool[$0].busy }).min(by: { pool[$0].phaseEnd < pool[$1].phaseEnd }) {
            now = pool[next].phaseEnd
            // Every phase ending now.
            for index in pool.indices where pool[index].busy && pool[index].phaseEnd <= now {
                if pool[index].pending.isEmpty {
                    pool[index].busy = false
                    pool[index].current = nil
                    pool[index].finished = now
                } else {
                    let item = pool[index].pending.removeFirst()
                    pool[index].current = item
                    pool[index].currentStart = now
                    pool[index].phaseEnd = now + item.actual
                }
            }
            assignIdle()
        }
        return Outcome(makespan: pool.map(\.finished).max() ?? 0, deviceTime: deviceTime, tasks: taskCount, moves: moves)
    }
}
