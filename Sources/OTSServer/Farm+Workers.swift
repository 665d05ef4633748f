import Foundation
import Logging
import OTSCore
import OTSHTTP
import OTSStore
import ServiceLifecycle
import TestDefinition

/// One case of a package's results, as the server keeps it for verdicts
/// and statistics.
struct CaseSummary: Sendable, Hashable, Codable {
    var set: String
    var testCase: String
    var result: String
    var insignificant: Bool

    enum CodingKeys: String, CodingKey {
        case set
        case testCase = "case"
        case result, insignificant
    }
}

extension Farm {
    // MARK: Registration and heartbeats

    public func register(_ registration: WorkerRegistration, at now: Date = Date()) async throws -> WorkerRegistered {
        if !registration.problems.isEmpty { throw DomainError(registration.problems) }
        let id = registration.workerID
        try await store.transaction { tx in
            let worker = WorkerRecord(
                host: registration.host, instanceName: registration.instance, version: registration.version,
                deviceGroup: registration.device.devicegroup, deviceName: registration.device.devicename,
                deviceID: registration.device.deviceid, state: "online", lastHeartbeat: now, registeredAt: now, pid: registration.pid
            )
            try await tx.upsertWorker(worker)
            var online = MonitorEvent(type: .workerOnline, sender: workerSender(registration))
            online.details = ["routing_keys": registration.device.consumedRoutingKeys.joined(separator: " ")]
            try await append([online] + recordNewInstance(worker, tx: tx, at: now), tx: tx, at: now)
        }
        logger.info("worker \(id) online for \(registration.device.consumedRoutingKeys.first ?? "")")
        return WorkerRegistered(workerID: id, heartbeatSeconds: configuration.heartbeatSeconds, leaseSeconds: configuration.leaseSeconds)
    }

    func workerSender(_ registration: WorkerRegistration) -> MonitorEvent.Sender {
        MonitorEvent.Sender(host: registration.host, instance: registration.instance, pid: registration.pid, version: registration.version)
    }

    /// Records a heartbeat and renews the lease of the task the worker
    /// holds, and of the tasks whose reports wait in its spool; tells it to
    /// stop a task it no longer holds.
    public func heartbeat(_ heartbeat: Heartbeat, at now: Date = Date()) async throws -> HeartbeatReply {
        let workerID = heartbeat.workerID
        let spooled = heartbeat.spooledTaskIDs ?? []
        if let problem = heartbeat.problems.first {
            throw DomainError(.invalid, problem.description, field: problem.field)
        }
        return try await store.transaction { tx in
            let before = try await tx.worker(id: workerID)
            guard try await tx.heartbeat(workerID: workerID, state: heartbeat.state, currentTask: heartbeat.taskID, at: now),
                let worker = try await tx.worker(id: workerID)
            else {
                throw DomainError(.notFound, "worker \(workerID) is not registered; register it again", field: "worker")
            }
            var reply = HeartbeatReply(stopTask: false)
            if let taskID = heartbeat.taskID {
                if let task = try await tx.task(id: taskID) {
                    let change = try await decide(.heartbeat(owner: workerID), on: task, tx: tx, at: now)
                    if !change.isWritten { reply = HeartbeatReply(stopTask: true, reason: Self.whyStop(task)) }
                } else {
                    reply = HeartbeatReply(stopTask: true, reason: "no task \(taskID)")
                }
            }
            // The tasks whose reports wait in the spool: a lease the worker
            // no longer holds stays lost (the lifecycle refuses to renew it).
            let waiting = Set(spooled).subtracting([heartbeat.taskID].compactMap { $0 })
            for task in try await tx.tasks(ids: waiting, owner: workerID) {
                _ = try await decide(.heartbeat(owner: workerID), on: task, tx: tx, at: now)
            }
            let keys = DeviceProperties(devicegroup: worker.deviceGroup, devicename: worker.deviceName, deviceid: worker.deviceID)
                .consumedRoutingKeys
            var beat = MonitorEvent(type: .workerHeartbeat, sender: Self.sender(of: worker), taskID: heartbeat.taskID)
            beat.details = ["state": heartbeat.state, "queued": String(try await tx.queuedCount(routingKeys: keys))]
            var events = [beat]
            if before?.state == "offline" {
                // Counted offline, it is back.
                var online = MonitorEvent(type: .workerOnline, sender: Self.sender(of: worker))
                online.details = ["reason": "heartbeat after being offline"]
                events.insert(online, at: 0)
            }
            try await append(events, tx: tx, at: now)
            return reply
        }
    }

    /// Why a worker must stop a task it no longer holds.
    private static func whyStop(_ task: TaskRecord) -> String {
        switch task.state {
        case .cancelled: "the testrun was cancelled"
        case .failed: task.errorMessage ?? "the task failed"
        case .finished: "the task has finished"
        case .queued, .claimed: "the task was handed to another worker"
        }
    }

    /// A worker instance as the sender of the events the server records for it.
    static func sender(of worker: WorkerRecord) -> MonitorEvent.Sender {
        MonitorEvent.Sender(host: worker.host, instance: worker.instanceName, pid: worker.pid ?? 0, version: worker.version)
    }

    /// A worker instance that shuts down cleanly says so.
    public func offline(workerID: String, at now: Date = Date()) async throws {
        try await store.transaction { tx in
            guard try await tx.heartbeat(workerID: workerID, state: "offline", currentTask: nil, at: now),
                let worker = try await tx.worker(id: workerID)
            else {
                throw DomainError(.notFound, "worker \(workerID) is not registered", field: "worker_id")
            }
            var offline = MonitorEvent(type: .workerOffline, sender: Self.sender(of: worker))
            offline.details = ["reason": "announced"]
            try await append([offline], tx: tx, at: now)
        }
        logger.info("worker \(workerID) went offline")
    }

    // MARK: Claims

    /// Hands the worker the next task for its routing keys, waiting up to
    /// `wait` for one; nil when none came, or when the worker stopped
    /// waiting (`connected` turned false: its connection closed). A task
    /// claimed just as the worker went is put back as it was.
    public func claim(
        workerID: String, wait: Duration, at now: @Sendable () -> Date = { Date() }, connected: @Sendable () -> Bool = { true }
    ) async throws -> TaskAssignment? {
        let worker = try await store.transaction { tx in
            let worker = try await tx.worker(id: workerID)
            if worker != nil {
                // A claim says the instance is alive and free.
                _ = try await tx.heartbeat(workerID: workerID, state: "free", currentTask: nil, at: now())
            }
            return worker
        }
        guard let worker else {
            throw DomainError(.notFound, "worker \(workerID) is not registered; register it again", field: "worker")
        }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: wait)
        // After a wait that only timed out, a read tells whether anything is
        // queued before a claim takes the write lock: an idle farm's polls
        // never wait for (or hold up) the writers.
        var polled = false
        while true {
            guard connected() else {
                logger.info("worker \(workerID) stopped waiting for a task (its connection closed)")
                return nil
            }
            let generation = signal.generation
            var assignment: TaskAssignment?
            var keys: [String]?
            var look = !polled
            if polled { look = try await store.read { try await self.worthClaiming(worker, tx: $0) } }
            if look {
                // Its health decides what it may claim, each time it looks.
                (assignment, keys) = try await claimOnce(worker: worker, at: now())
            } else {
                keys = Self.deviceKeys(worker)
            }
            if assignment == nil, let keys { assignment = try await rebalance(worker: worker, keys: keys, at: now()) }
            if let assignment {
                guard connected() else {
                    try await putBack(assignment, from: worker, at: now())
                    return nil
                }
                return assignment
            }
            let remaining = clock.now.duration(to: deadline)
            // A server shutting down answers waiting claims at once.
            if remaining <= .zero || Task.isCancelled || Task.isShuttingDownGracefully { return nil }
            await withGracefulShutdownHandler {
                await signal.wait(after: generation, upTo: min(remaining, .seconds(configuration.claimPoll)))
            } onGracefulShutdown: {
                self.signal.notify()
            }
            polled = signal.generation == generation
        }
    }

    /// Wakes the waiting claims, so that they look again.
    func wakeClaims() {
        signal.notify()
    }

    /// Puts a task whose worker went before it heard of it back in the
    /// queue as it was before the claim: the attempt does not count.
    private func putBack(_ assignment: TaskAssignment, from worker: WorkerRecord, at now: Date) async throws {
        let reason = "the worker's connection closed before the task reached it"
        let wake = try await store.transaction { tx in
            guard let task = try await tx.lockTask(id: assignment.taskID) else { return false }
            let change = try await decide(
                .putBack(owner: worker.id, attempt: assignment.attempt, reason: reason), on: task, tx: tx, at: now)
            guard change.isWritten else { return false }
            _ = try await tx.heartbeat(workerID: worker.id, state: "free", currentTask: nil, at: now)
            try await append(events(of: change), tx: tx, at: now)
            return change.action.wakeClaims
        }
        guard wake else { return }
        logger.info("task \(assignment.taskID) put back in the queue: \(reason) (\(worker.id))")
        signal.notify()
    }

    /// The next task the worker may claim, if any; and, when its health
    /// lets it take work, the device's routing keys (for balancing).
    private func claimOnce(worker: WorkerRecord, at now: Date) async throws -> (TaskAssignment?, [String]?) {
        try await store.transaction { tx in
            let (keys, work, events) = try await claimKeys(worker, tx: tx, at: now)
            try await append(events, tx: tx, at: now)
            let deviceKeys = work ? Array(keys.dropFirst()) : nil
            guard
                !keys.isEmpty,
                let change = try await tx.claimNext(
                    owner: worker.id, routingKeys: keys, lease: .seconds(configuration.leaseSeconds),
                    maxAttempts: configuration.maxAttempts, at: now)
            else { return (nil, deviceKeys) }
            guard let testrun = try await tx.testrun(id: change.task.testrunID) else {
                throw DomainError(.internalError, "task \(change.task.id) has no testrun \(change.task.testrunID)")
            }
            return (try await assign(change, to: worker, testrun: testrun, tx: tx, at: now), deviceKeys)
        }
    }

    /// What a worker gets for a task it just claimed; tells of the claim.
    func assign(_ change: TaskChange, to worker: WorkerRecord, testrun: TestrunRecord, tx: StoreTransaction, at now: Date) async throws
        -> TaskAssignment
    {
        let task = change.task
        _ = try await tx.heartbeat(workerID: worker.id, state: "busy", currentTask: task.id, at: now)
        let request = try JSONCoding.decoder().decode(TestrunRequest.self, from: Data(testrun.request.utf8))
        let work = try JSONCoding.decoder().decode(TaskWork.self, from: Data(task.work.utf8))
        let plan = testrun.plan.flatMap { try? JSONCoding.decoder().decode(PlanRecord.self, from: Data($0.utf8)) }
        // The server tells of the worker's state change it caused.
        try await append(events(of: change).map { Self.withRunDetails($0, request: request, worker: worker) }, tx: tx, at: now)
        logger.info("task \(task.id) of testrun \(task.testrunID) claimed by \(worker.id) (attempt \(task.attempts))")
        return TaskAssignment(
            taskID: task.id,
            testrunID: task.testrunID,
            attempt: task.attempts,
            image: request.image,
            imageChecksum: request.imageChecksum,
            swProduct: request.swProduct,
            device: request.device,
            work: work,
            testfilter: request.testfilter,
            flasherOptions: request.flasherOptions,
            detailLevel: request.detailLevel ?? .case,
            executionTimeout: Int(configuration.executionTimeout),
            // Balancing may move the sets of a history plan.
            askBeforeSets: plan?.model == "history" ? true : nil,
            countInsignificant: request.countInsignificant,
            verdictMode: request.verdictRules
        )
    }

    // MARK: Results and files

    /// Stores one package's results of a task the worker holds. A resend
    /// after the task ended is acknowledged and ignored.
    public func saveResults(taskID: String, workerID: String, package: String, xml: Data, at now: Date = Date()) async throws -> Bool {
        let results: TestResults
        do {
            results = try ResultsParser().parse(xml, file: "results of \(package)")
        } catch {
            throw DomainError(.invalid, "body: not testdefinition-results XML: \(error)", field: "body")
        }
        let cases = results.suites.flatMap { suite in
            suite.sets.flatMap { set in
                set.cases.map {
                    CaseSummary(set: set.attributes.name, testCase: $0.name, result: $0.result.rawValue, insignificant: $0.isInsignificant)
                }
            }
        }
        let casesJSON = try JSONCoding.string(cases)
        return try await store.transaction { tx in
            guard try await heldTask(taskID: taskID, workerID: workerID, package: package, tx: tx) else { return false }
            try await tx.saveResults(
                ResultRecord(taskID: taskID, package: package, resultsXML: String(decoding: xml, as: UTF8.self), cases: casesJSON), at: now)
            try await recordCases(results, taskID: taskID, workerID: workerID, package: package, tx: tx, at: now)
            return true
        }
    }

    public func saveFile(taskID: String, workerID: String, package: String, name: String, content: [UInt8], at now: Date = Date())
        async throws -> Bool
    {
        // `output/NAME`: a step's whole output, as the runner keeps it.
        let plain = name.hasPrefix("output/") ? String(name.dropFirst("output/".count)) : name
        guard !plain.isEmpty, name.count <= 255, !plain.contains("/"), plain != ".", plain != ".." else {
            throw DomainError(.invalid, "name: '\(name.prefix(100))' is not a file name", field: "name")
        }
        return try await store.transaction { tx in
            guard try await heldTask(taskID: taskID, workerID: workerID, package: package, files: true, tx: tx) else { return false }
            try await tx.saveFile(
                FileRecord(taskID: taskID, package: package, name: name, size: Int64(content.count)), content: content, at: now)
            return true
        }
    }

    /// True when the worker holds the task; false when the worker held it
    /// and it has ended (a resend); throws otherwise. Files (not results)
    /// may also be the device's own (`TaskWork.devicePackage`).
    private func heldTask(taskID: String, workerID: String, package: String, files: Bool = false, tx: StoreTransaction) async throws
        -> Bool
    {
        guard let task = try await tx.task(id: taskID) else { throw DomainError(.notFound, "no task \(taskID)") }
        let work = try JSONCoding.decoder().decode(TaskWork.self, from: Data(task.work.utf8))
        guard work.packages.contains(where: { $0.name == package }) || (files && package == TaskWork.devicePackage) else {
            throw DomainError(.invalid, "package: '\(package.prefix(200))' is not part of task \(taskID)", field: "package")
        }
        let lifecycle = TaskLifecycle(record: task, maxAttempts: configuration.maxAttempts)
        if lifecycle.isHeld(by: workerID) { return true }
        if lifecycle.hasEnded(heldLastBy: workerID) { return false }
        throw DomainError(.conflict, "task \(taskID) is not held by \(workerID)")
    }

    // MARK: Finishing

    /// Ends a task as its worker reports, and the testrun when it was its
    /// last task. A repeated finish is acknowledged.
    public func finish(taskID: String, _ finish: TaskFinish, at now: Date = Date()) async throws {
        guard finish.verdict != nil || finish.error != nil else {
            throw DomainError(.invalid, "verdict: give a verdict or an error", field: "verdict")
        }
        if let message = finish.error?.message, message.count > TestrunRequest.Limits.textLength {
            throw DomainError(.invalid, "error.message: at most \(TestrunRequest.Limits.textLength) characters", field: "error.message")
        }
        try await store.transaction { tx in
            guard let task = try await tx.lockTask(id: taskID) else { throw DomainError(.notFound, "no task \(taskID)") }
            let input: TaskLifecycle.Input =
                if let error = finish.error {
                    .fail(owner: finish.workerID, error.category, error.message)
                } else {
                    .finish(owner: finish.workerID, finish.verdict ?? .error)
                }
            var (change, events) = try await perform(input, on: task, tx: tx, at: now)
            if let reason = change.action.rejection { throw DomainError(.conflict, "task \(taskID): \(reason)") }
            guard change.isWritten else { return }
            events += try await taskEndedForHealth(change, owner: finish.workerID, tx: tx, at: now)
            events += try await conclude(testrunID: change.task.testrunID, tx: tx, at: now)
            try await append(events, tx: tx, at: now)
        }
        ended.notify()
    }

    /// Decides the testrun's verdict when all its tasks have ended; returns
    /// the events that says.
    func conclude(testrunID: String, tx: StoreTransaction, at now: Date) async throws -> [MonitorEvent] {
        guard let testrun = try await tx.lockTestrun(id: testrunID), !testrun.state.isEnded else { return [] }
        let tasks = try await tx.tasks(testrunID: testrunID)
        guard tasks.allSatisfy({ $0.state != .queued && $0.state != .claimed }) else { return [] }
        let request = try JSONCoding.decoder().decode(TestrunRequest.self, from: Data(testrun.request.utf8))
        let rules = VerdictRules(countInsignificant: request.countInsignificant ?? false, mode: request.verdictRules ?? .ots)
        let results = try await tx.results(testrunID: testrunID)
        let outcomes = try tasks.map { task -> VerdictRules.TaskOutcome in
            let mine = results.filter { $0.taskID == task.id }
            let cases = try mine.flatMap { try JSONCoding.decoder().decode([CaseSummary].self, from: Data($0.cases.utf8)) }
            let failed = cases.filter { rules.isFailure(result: $0.result) }
            var error: (category: ErrorCategory, message: String)?
            switch task.state {
            case .failed:
                error = (
                    task.errorCategory.flatMap(ErrorCategory.init(rawValue:)) ?? .infrastructure, task.errorMessage ?? "the task failed"
                )
            case .cancelled:
                error = (.infrastructure, "the task was cancelled")
            default:
                break
            }
            return VerdictRules.TaskOutcome(
                error: error,
                packagesWithResults: Set(mine.map(\.package)),
                failedSignificantCases: failed.filter { !$0.insignificant }.count,
                failedInsignificantCases: failed.filter(\.insignificant).count
            )
        }
        let expected = Set(PackageRequest.all(in: request).map(\.name))
        let decision = rules.decide(expectedPackages: expected, tasks: outcomes)
        // A task's error was reported where it happened; only an error of the
        // testrun's own (a package without results) is a new failure.
        let change = try await tx.perform(
            .tasksEnded(decision, errorIsNew: outcomes.allSatisfy { $0.error == nil }), on: testrun, at: now)
        let events = try await written(change, testrun: testrun, tx: tx, at: now)
        if change.isWritten {
            logger.info("testrun \(testrunID) finished: \(decision.verdict)\(decision.message.map { " (\($0))" } ?? "")")
        }
        return events
    }
}
