/// Dynamic balancing (pure): what a worker that ran out of work takes from
/// the running tasks of the same testrun.
///
/// It takes from the task with the most remaining estimated work the second
/// half of its not-yet-started sets: the tail of their list (the shortest
/// ones, as tasks run longest first), as much as brings the two closest to
/// finishing together. It moves them only when that saves more than the
/// cost of the new task (nothing to flash when the idle device already
/// holds the image: a cost of zero). A running set that has passed its
/// estimate counts as running on by as much as it has overrun.
public enum Rebalancer {
    /// A running task as the balancer sees it.
    public struct RunningTask: Sendable, Hashable {
        /// Estimated seconds left of what has started (the running set, or
        /// the rest of the flashing and booting).
        public var started: Double
        /// Estimated seconds of each set not yet started, in run order.
        public var pending: [Double]

        /// `started` is the estimate of what has started minus the time it
        /// has run: negative when it has run past its estimate by that much.
        /// Then the estimate was wrong, and what is left is unknown: it is
        /// taken to run on as long again as it has overrun so far (its age
        /// counted from when it passed its estimate: knowing only how long
        /// something has lasted, the best guess of how much longer is as
        /// long again). So a task whose running set overran keeps looking
        /// busy, and its sets not started move to idle workers instead of
        /// waiting behind it (docs/farm.md, "Dynamic balancing").
        public init(started: Double, pending: [Double]) {
            self.started = started.isFinite ? abs(started) : 0
            self.pending = pending
        }

        /// Estimated seconds until it ends.
        public var remaining: Double { started + pending.reduce(0, +) }
    }

    /// Sets to move: `tasks[task].pending[first...]`.
    public struct Move: Sendable, Hashable {
        public var task: Int
        /// The first pending set that moves; every one after it moves too.
        public var first: Int
        /// Estimated seconds moved.
        public var seconds: Double
        /// Estimated seconds by which the two finish earlier than the task
        /// would alone.
        public var saving: Double
    }

    /// The move for an idle worker whose new task costs `cost`; nil when
    /// no move saves more than that.
    public static func decide(_ tasks: [RunningTask], cost: Double) -> Move? {
        var victim: Int?
        for (index, task) in tasks.enumerated() where !task.pending.isEmpty {
            if victim == nil || task.remaining > tasks[victim!].remaining { victim = index }
        }
        guard let victim else { return nil }
        let task = tasks[victim]
        let remaining = task.remaining
        var best: Move?
        var moved = 0.0
        // Growing suffixes of the pending list.
        for first in task.pending.indices.reversed() {
            moved += task.pending[first]
            let finish = max(remaining - moved, cost + moved)
            let saving = remaining - finish
            if best == nil || saving > best!.saving {
                best = Move(task: victim, first: first, seconds: moved, saving: saving)
            }
        }
        guard let best, best.saving > cost, best.saving > 0 else { return nil }
        return best
    }
}
