import Distribution
import Foundation
import Logging
import OTSCore
import OTSHTTP
import OTSStore

/// Dynamic balancing of testruns planned by the history model.
///
/// A worker of such a testrun asks before each set whether to start it; the
/// server records the start in the same transaction, under the task's lock.
/// A worker that finds no queued task may take sets not yet started from a
/// running task (the `Rebalancer` decides which): under the same lock they
/// leave that task's work and become a new task, claimed by the idle
/// worker. A set is thus started by the task that holds it when it starts,
/// and held by exactly one task: never run twice, never left out.
extension Farm {
    /// Whether a worker may start a set of its task (`POST /tasks/{id}/sets`).
    public func startSet(taskID: String, _ start: SetStart, at now: Date = Date()) async throws -> SetStartReply {
        for (field, value) in [("package", start.package), ("set", start.set)]
        where value.isEmpty || value.count > TestrunRequest.Limits.textLength {
            throw DomainError(.invalid, "\(field): must have 1 to \(TestrunRequest.Limits.textLength) characters", field: field)
        }
        return try await store.transaction { tx in
            guard let task = try await tx.lockTask(id: taskID) else { throw DomainError(.notFound, "no task \(taskID)") }
            guard TaskLifecycle(record: task, maxAttempts: configuration.maxAttempts).isHeld(by: start.workerID) else {
                throw DomainError(.conflict, "task \(taskID) is not held by \(start.workerID)")
            }
            let work = try JSONCoding.decoder().decode(TaskWork.self, from: Data(task.work.utf8))
            guard let package = work.packages.first(where: { $0.name == start.package }) else {
                throw DomainError(.invalid, "package: '\(start.package.prefix(200))' is not part of task \(taskID)", field: "package")
            }
            guard package.runs(set: start.set) else { return SetStartReply(run: false) }
            try await tx.recordSetStart(taskID: taskID, package: start.package, set: start.set, at: now)
            return SetStartReply(run: true)
        }
    }

    /// A running task as balancing sees it.
    struct BalancingView {
        var task: TaskRecord
        var work: TaskWork
        /// Sets not started, longest first.
        var pending: [(package: String, set: String, seconds: Double)]
        var view: Rebalancer.RunningTask
    }

    /// Balancing's view of a task: its sets not yet started with the plan's
    /// estimates, and the estimated rest of what it has started (the
    /// newest set started, or the task's flashing and booting). Sets the
    /// plan did not estimate, and packages planned whole, are not moved.
    static func balancingView(
        task: TaskRecord, work: TaskWork, plan: PlanRecord, started: [StartedSet], at now: Date
    ) -> BalancingView {
        let estimates = plan.estimates ?? []
        func seconds(_ package: String, _ set: String) -> Double? {
            estimates.first { $0.package == package && $0.set == set }?.seconds
        }
        let done = Set(started.map { "\($0.package)\u{0}\($0.set)" })
        var pending: [(package: String, set: String, seconds: Double)] = []
        for package in work.packages {
            let names: [String] =
                package.sets
                ?? estimates.filter { $0.package == package.name && $0.task == task.sequence && $0.set != nil }.map { $0.set! }
            for name in names where package.runs(set: name) && !done.contains("\(package.name)\u{0}\(name)") {
                if let estimate = seconds(package.name, name) { pending.append((package.name, name, estimate)) }
            }
        }
        // Longest first, as plans order tasks: the tail moves.
        pending = pending.enumerated().sorted {
            $0.element.seconds > $1.element.seconds || ($0.element.seconds == $1.element.seconds && $0.offset < $1.offset)
        }
        .map(\.element)
        var running = 0.0
        if let newest = started.max(by: { $0.startedAt < $1.startedAt }) {
            running = (seconds(newest.package, newest.set) ?? 0) - now.timeIntervalSince(newest.startedAt)
        } else if let begun = task.startedAt {
            running = (plan.taskCostSeconds ?? 0) - now.timeIntervalSince(begun)
        }
        return BalancingView(
            task: task, work: work, pending: pending, view: Rebalancer.RunningTask(started: running, pending: pending.map(\.seconds)))
    }

    /// What a new task costs the idle worker before its first set:
    /// nothing to flash when its device holds the testrun's image, having
    /// run a task of the testrun (`heldTask`) or last flashed the same
    /// image in an earlier testrun (`lastFlashed`, its request); else the
    /// plan's task cost.
    static func balancingCost(taskCost: Double?, heldTask: Bool, request: TestrunRequest?, lastFlashed: TestrunRequest?) -> Double {
        heldTask || sameImage(request, lastFlashed) ? 0 : taskCost ?? 0
    }

    /// Whether two requests flash the same image: the same URL, with the
    /// same checksum or none on either. Without an image (or a request)
    /// nothing known is flashed, so no device holds it.
    static func sameImage(_ one: TestrunRequest?, _ other: TestrunRequest?) -> Bool {
        guard let one, let other, let image = one.image, image == other.image else { return false }
        return one.imageChecksum?.lowercased() == other.imageChecksum?.lowercased()
    }

    /// For a worker with nothing queued: sets taken from a running task of a
    /// history-planned testrun, as a new task it holds; nil when no move
    /// saves more than its cost.
    func rebalance(worker: WorkerRecord, keys: [String], at now: Date) async throws -> TaskAssignment? {
        guard try await store.hasTasksWithStartedSets(routingKeys: keys) else { return nil }
        return try await store.transaction { tx in
            let running = try await tx.runningTasks(routingKeys: keys).filter { $0.owner != worker.id }
            guard !running.isEmpty else { return nil }
            let decoder = JSONCoding.decoder()
            // The image the idle device holds, from whichever testrun flashed it last.
            let lastFlashed = try await tx.lastFlashedTestrun(owner: worker.id).flatMap {
                try? decoder.decode(TestrunRequest.self, from: Data($0.request.utf8))
            }
            var best: (move: Rebalancer.Move, views: [BalancingView], testrun: TestrunRecord, holdsImage: Bool)?
            for (testrunID, tasks) in Dictionary(grouping: running, by: \.testrunID) {
                guard let testrun = try await tx.testrun(id: testrunID), let planJSON = testrun.plan,
                    let plan = try? JSONCoding.decoder().decode(PlanRecord.self, from: Data(planJSON.utf8)), plan.model == "history"
                else { continue }
                var views: [BalancingView] = []
                for task in tasks.sorted(by: { $0.sequence < $1.sequence }) {
                    let work = try JSONCoding.decoder().decode(TaskWork.self, from: Data(task.work.utf8))
                    views.append(
                        Self.balancingView(task: task, work: work, plan: plan, started: try await tx.startedSets(taskID: task.id), at: now))
                }
                let request = try? decoder.decode(TestrunRequest.self, from: Data(testrun.request.utf8))
                let heldTask = try await tx.hasHeldTask(owner: worker.id, testrunID: testrunID)
                let cost = Self.balancingCost(
                    taskCost: plan.taskCostSeconds, heldTask: heldTask, request: request, lastFlashed: lastFlashed)
                guard let move = Rebalancer.decide(views.map(\.view), cost: cost) else { continue }
                let holdsImage = request?.image != nil && (heldTask || Self.sameImage(request, lastFlashed))
                if best == nil || move.saving > best!.move.saving { best = (move, views, testrun, holdsImage) }
            }
            guard let (move, views, testrun, holdsImage) = best else { return nil }
            let victim = views[move.task]
            let moved = Array(victim.pending[move.first...])

            var remaining = victim.work
            for index in remaining.packages.indices {
                let name = remaining.packages[index].name
                let leaving = moved.filter { $0.package == name }.map(\.set)
                guard !leaving.isEmpty else { continue }
                if let sets = remaining.packages[index].sets {
                    remaining.packages[index].sets = sets.filter { !leaving.contains($0) }
                } else {
                    remaining.packages[index].skipSets = (remaining.packages[index].skipSets ?? []) + leaving
                }
            }
            var taken = TaskWork(packages: [])
            for item in moved {
                if let index = taken.packages.firstIndex(where: { $0.name == item.package }) {
                    taken.packages[index].sets?.append(item.set)
                } else {
                    let source = victim.work.packages.first { $0.name == item.package }
                    taken.packages.append(
                        TaskWork.Package(
                            name: item.package, location: source?.location ?? .device, sets: [item.set], definition: source?.definition))
                }
            }
            // They run in the order they were pending: longest first.
            for index in taken.packages.indices { taken.packages[index].setOrder = taken.packages[index].sets }
            try await tx.updateWork(taskID: victim.task.id, work: try JSONCoding.string(remaining))
            let newTask = NewTask(
                testrunID: testrun.id, sequence: try await tx.nextSequence(testrunID: testrun.id), routingKey: victim.task.routingKey,
                work: try JSONCoding.string(taken), priority: victim.task.priority)
            try await tx.enqueue([newTask], at: now)
            guard let queued = try await tx.lockTask(id: newTask.id),
                case let claimed = try await decide(.claim(owner: worker.id), on: queued, tx: tx, at: now), claimed.isWritten
            else { throw DomainError(.internalError, "task \(newTask.id) was enqueued but cannot be claimed") }
            let task = claimed.task
            let sets = moved.map { "\($0.package)/\($0.set)" }.joined(separator: " ")
            try await append(
                [
                    event(
                        .taskQueued, testrunID: testrun.id, taskID: task.id,
                        details: [
                            "routing_key": task.routingKey, "moved_from": victim.task.id, "sets": sets,
                            "estimated_seconds": String(format: "%.1f", move.seconds),
                            "estimated_saving_seconds": String(format: "%.1f", move.saving),
                        ])
                ], tx: tx, at: now)
            logger.info(
                "testrun \(testrun.id): \(moved.count) sets of task \(victim.task.id) move to task \(task.id) for \(worker.id), saving about \(Int(move.saving)) s"
            )
            var assignment = try await assign(claimed, to: worker, testrun: testrun, tx: tx, at: now)
            if holdsImage { assignment.deviceHoldsImage = true }
            return assignment
        }
    }
}
