import Foundation
import Logging
import OTSCore
import OTSHTTP
import OTSStore

extension Farm {
    /// Accepts a batch of a worker's events: each once by id, in order, onto
    /// the monitor queue, updating the progress of the tasks they tell of.
    ///
    /// A worker tells only of its own work: each event has a type workers
    /// send, its sender is the instance (with `worker`, the instance a
    /// worker token belongs to), and an event about a task is about one
    /// the sender holds or held, in an attempt it held, and a package of
    /// that task. The server computes each error's signature. A batch that
    /// breaks a rule is refused whole (400, 403 or 409) and the refusal is
    /// counted (a `worker.refused` event).
    public func receive(_ batch: EventBatch, from worker: String? = nil, at now: Date = Date()) async throws -> EventBatchReply {
        if batch.events.count > EventBatch.limit {
            throw DomainError(.invalid, "events: at most \(EventBatch.limit) in one batch, not \(batch.events.count)", field: "events")
        }
        for (index, event) in batch.events.enumerated() {
            if let problem = event.problems.first {
                throw DomainError(.invalid, "events[\(index)].\(problem)", field: "events[\(index)]")
            }
        }
        do {
            for (index, event) in batch.events.enumerated() {
                try Self.checkSender(event, index: index, worker: worker)
            }
            // What needs no store is done before the write transaction, which
            // others wait for: each event as it will be accepted (its
            // signature computed, received now) and its JSON for the queue.
            let stamped = batch.events.map { Self.stamped($0, at: now) }
            let encoded = Self.encoded(stamped)
            return try await store.transaction { tx in
                var tasks = TaskLookup()
                var events: [MonitorEvent] = []
                for (index, event) in stamped.enumerated() {
                    events.append(try await Self.authorized(event, index: index, tasks: &tasks, tx: tx))
                }
                let new = try await tx.receiveEvents(ids: events.map(\.id), at: now)
                var accepted: [MonitorEvent] = []
                for event in events where new.contains(event.id) {
                    accepted.append(event)
                    accepted += try await apply(event, tx: tx, at: now)
                }
                try await append(accepted, encoded: encoded, tx: tx, at: now)
                return EventBatchReply(accepted: new.count, duplicates: events.count - new.count)
            }
        } catch let refusal as EventRefusal {
            await count(refusal, from: worker ?? batch.events.first?.sender.workerID)
            throw refusal.error
        }
    }

    /// An event a worker may not send, and why.
    struct EventRefusal: Error {
        var error: DomainError
        /// What rule it broke, for counting: `type`, `sender`, `task`, `attempt`, `package`.
        var reason: String

        init(_ code: DomainError.Code, reason: String, field: String, _ message: String) {
            error = DomainError(code, "\(field): \(message)", field: field)
            self.reason = reason
        }
    }

    /// The rules that need no store: a type workers send, from the token's instance.
    static func checkSender(_ event: MonitorEvent, index: Int, worker: String?) throws(EventRefusal) {
        if let worker, event.sender.workerID != worker {
            throw EventRefusal(
                .forbidden, reason: "sender", field: "events[\(index)].sender",
                "the token of worker \(worker) cannot send another worker's events")
        }
        guard EventType.sentByWorkers.contains(event.type) else {
            throw EventRefusal(
                .forbidden, reason: "type", field: "events[\(index)].type",
                "workers do not send '\(event.type)' events (docs/events.md lists who sends which)")
        }
    }

    /// The tasks a batch tells of, each read once.
    struct TaskLookup {
        var tasks: [String: (task: TaskRecord, packages: Set<String>)?] = [:]
        var held: [String: Set<Int>] = [:]
    }

    /// A worker's event as the server stamps it: received now, and its
    /// error's signature computed here (a sender's is never trusted).
    static func stamped(_ event: MonitorEvent, at now: Date) -> MonitorEvent {
        var event = event
        event.error = event.error.map { MonitorEvent.Failure(category: $0.category, message: $0.message) }
        event.receivedAt = now
        return event
    }

    /// The event as the server accepts it (its testrun filled in), or the
    /// refusal of the rule it breaks. `event` is `stamped`.
    static func authorized(_ event: MonitorEvent, index: Int, tasks: inout TaskLookup, tx: StoreTransaction) async throws -> MonitorEvent {
        var event = event
        let field = "events[\(index)]"
        guard let taskID = event.taskID else {
            // Only a failure of the instance itself (its spool) is about no task.
            guard event.type == .failure, event.testrunID == nil else {
                throw EventRefusal(.invalid, reason: "task", field: "\(field).task_id", "required for '\(event.type)' events")
            }
            return event
        }
        if tasks.tasks[taskID] == nil {
            tasks.tasks[taskID] = try await tx.task(id: taskID).map { task in
                let work = try? JSONCoding.decoder().decode(TaskWork.self, from: Data(task.work.utf8))
                return (task, Set(work?.packages.map(\.name) ?? []))
            }
        }
        guard let (task, packages) = tasks.tasks[taskID] ?? nil else {
            throw EventRefusal(.conflict, reason: "task", field: "\(field).task_id", "no task \(taskID)")
        }
        let owner = event.sender.workerID
        guard let attempt = event.attempt else {
            throw EventRefusal(.invalid, reason: "attempt", field: "\(field).attempt", "required with task_id")
        }
        if !(task.owner == owner && task.attempts == attempt) {
            if tasks.held[taskID] == nil { tasks.held[taskID] = try await tx.heldAttempts(taskID: taskID, owner: owner) }
            let held = tasks.held[taskID] ?? []
            guard !held.isEmpty else {
                throw EventRefusal(.forbidden, reason: "task", field: "\(field).task_id", "task \(taskID) was never held by \(owner)")
            }
            guard held.contains(attempt) else {
                throw EventRefusal(
                    .conflict, reason: "attempt", field: "\(field).attempt",
                    "\(owner) did not hold attempt \(attempt) of task \(taskID) (it held \(held.sorted().map(String.init).joined(separator: ", ")))"
                )
            }
        }
        if let testrunID = event.testrunID, testrunID != task.testrunID {
            throw EventRefusal(
                .conflict, reason: "task", field: "\(field).testrun_id", "task \(taskID) is of testrun \(task.testrunID), not \(testrunID)")
        }
        event.testrunID = task.testrunID
        if let package = event.package, !packages.contains(package) {
            throw EventRefusal(
                .forbidden, reason: "package", field: "\(field).package", "'\(package.prefix(200))' is not a package of task \(taskID)")
        }
        return event
    }

    /// Counts a refusal: a `worker.refused` event, in its own transaction
    /// (the refused batch changed nothing).
    private func count(_ refusal: EventRefusal, from worker: String?) async {
        var refused = event(.workerRefused)
        refused.details = ["reason": refusal.reason, "status": APIError(refusal.error).code.description, "message": refusal.error.message]
        if let worker { refused.details?["worker"] = worker }
        logger.warning("refused events from \(worker ?? "a worker"): \(refusal.error.message)")
        do {
            try await store.transaction { tx in try await append([refused], tx: tx, at: Date()) }
        } catch {
            logger.error("cannot record the refusal of events: \(error)")
        }
    }

    /// What a worker's event means for its task and testrun; returns the
    /// server's own events it causes.
    private func apply(_ event: MonitorEvent, tx: StoreTransaction, at now: Date) async throws -> [MonitorEvent] {
        guard let taskID = event.taskID else { return [] }
        let owner = event.sender.workerID
        var progress = TaskProgress()
        switch event.type {
        case .taskStarted: progress = TaskProgress(phase: "image")
        case .flashStarted: progress = TaskProgress(phase: "flash", flashTry: event.tryNumber ?? 1)
        case .bootStarted: progress = TaskProgress(phase: "boot", bootTry: event.tryNumber ?? 1)
        case .packageStarted: progress = TaskProgress(phase: "test")
        case .packageFinished: progress = TaskProgress(packageDone: true)
        case .resultsStarted: progress = TaskProgress(phase: "upload")
        default: return []
        }
        guard try await tx.recordProgress(taskID: taskID, owner: owner, progress, at: now), event.type == .taskStarted,
            let task = try await tx.task(id: taskID)
        else { return [] }
        // The task runs; the first of a testrun's tasks to start starts it.
        let started = try await decide(.start(owner: owner), on: task, tx: tx, at: now)
        guard started.isWritten, let testrun = try await tx.lockTestrun(id: task.testrunID) else { return [] }
        return try await written(try await tx.perform(.taskStarted, on: testrun, at: now), testrun: testrun, tx: tx, at: now)
    }
}
