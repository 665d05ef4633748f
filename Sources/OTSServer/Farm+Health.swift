import Distribution
import Foundation
import Logging
import OTSCore
import OTSHTTP
import OTSStore

/// Device health: what the `DeviceHealth` machine decides, applied. Every
/// change goes through `StoreTransaction.perform` (one compare-and-set
/// write) in the transaction of what caused it: a task's end, a claim, a
/// health check's end, an operator's command.
extension Farm {
    /// The routing key of an instance's own tasks (its health checks):
    /// device properties hold no `@`, so no other instance consumes it.
    static func instanceKey(_ workerID: String) -> String { "@" + workerID }

    /// The instance a task with this routing key is the health check of.
    static func healthCheckOf(routingKey: String) -> String? {
        routingKey.hasPrefix("@") ? String(routingKey.dropFirst()) : nil
    }

    func healthRules(_ worker: WorkerRecord) -> HealthRules {
        configuration.health.rules(for: worker.deviceGroup)
    }

    /// A new instance's health (`unknown`), with its event; nothing when it
    /// has one (it registered before).
    func recordNewInstance(_ worker: WorkerRecord, tx: StoreTransaction, at now: Date) async throws -> [MonitorEvent] {
        guard try await tx.insertHealth(workerID: worker.id, at: now) else { return [] }
        return [
            .healthChanged(
                from: nil, to: .unknown, reason: "registered", evidence: [], deviceGroup: worker.deviceGroup,
                sender: Self.sender(of: worker),
                at: now)
        ]
    }

    /// Runs an input through an instance's health and does what it says:
    /// tells of a change, starts or cancels a health check. Nil when the
    /// worker is not registered.
    func applyHealth(
        _ input: DeviceHealth.Input, workerID: String, worker known: WorkerRecord? = nil, by: String? = nil, tx: StoreTransaction,
        at now: Date
    ) async throws -> (change: HealthChange, events: [MonitorEvent])? {
        // A claim has just read its worker; other callers read it here.
        var worker = known
        if worker == nil { worker = try await tx.worker(id: workerID) }
        guard let worker else { return nil }
        var events: [MonitorEvent] = []
        // A lost compare-and-set means another request decided first:
        // decide again on what it wrote.
        for _ in 0..<3 {
            guard let record = try await tx.lockHealth(workerID: workerID) else {
                events += try await recordNewInstance(worker, tx: tx, at: now)
                continue
            }
            let change = try await tx.perform(input, on: record, rules: healthRules(worker), at: now)
            if change.lost { continue }
            if let moved = change.action.change {
                events.append(
                    .healthChanged(
                        from: moved.from, to: moved.to, reason: moved.reason, evidence: moved.evidence, deviceGroup: worker.deviceGroup,
                        sender: Self.sender(of: worker), by: by, at: now))
                logger.notice("device \(workerID) is \(moved.to) (was \(moved.from)): \(moved.reason)")
            }
            if let testrunID = change.action.startCheck {
                events += try await startHealthCheck(testrunID, of: worker, tx: tx, at: now)
            }
            if let testrunID = change.action.cancelCheck, let testrun = try await tx.lockTestrun(id: testrunID) {
                let cancelled = try await tx.perform(.cancel, on: testrun, at: now)
                if cancelled.isWritten { events += try await written(cancelled, testrun: testrun, tx: tx, at: now) }
            }
            return (change, events)
        }
        throw DomainError(.conflict, "the health of \(workerID) changed while this request was decided; try again")
    }

    /// Queues an instance's health check: its group's request, as one task
    /// only this instance claims; returns the events that say so.
    private func startHealthCheck(_ id: String, of worker: WorkerRecord, tx: StoreTransaction, at now: Date) async throws
        -> [MonitorEvent]
    {
        let device = DeviceProperties(devicegroup: worker.deviceGroup, devicename: worker.deviceName, deviceid: worker.deviceID)
        guard let request = configuration.health.request(for: device, workerID: worker.id), let model = models.model(named: "single")
        else {
            throw DomainError(.internalError, "device group \(worker.deviceGroup) has no health check to start")
        }
        let plan = try await model.plan(DistributionRequest(packages: PackageRequest.all(in: request), device: device))
        let record = PlanRecord(model: model.name, tasks: plan.tasks.count, notes: plan.notes)
        let planJSON = try JSONCoding.string(record)
        let tasks = try plan.tasks.enumerated().map { index, work in
            NewTask(testrunID: id, sequence: index, routingKey: Self.instanceKey(worker.id), work: try JSONCoding.string(work))
        }
        try await tx.insertTestrun(
            id: id, request: try JSONCoding.string(request), deviceGroup: worker.deviceGroup, requestor: request.requestor, priority: 0,
            deadline: now.addingTimeInterval(Double(request.timeout ?? configuration.testrunTimeout)), plan: planJSON, at: now)
        try await tx.markHealthCheck(testrunID: id, workerID: worker.id)
        try await tx.enqueue(tasks, at: now)
        let mark = [MonitorEvent.healthCheckDetail: worker.id]
        var events = [
            event(
                .testrunRequested, testrunID: id,
                details: Self.requestedDetails(request, model: model.name, notes: plan.notes).merging(mark) { $1 }),
            event(.testrunPlanned, testrunID: id, details: Self.plannedDetails(record, json: planJSON).merging(mark) { $1 }),
        ]
        for task in tasks {
            events.append(
                event(.taskQueued, testrunID: id, taskID: task.id, details: ["routing_key": task.routingKey].merging(mark) { $1 }))
        }
        events.append(event(.testrunQueued, testrunID: id, details: ["tasks": String(tasks.count)].merging(mark) { $1 }))
        logger.info("health check \(id) of \(worker.id) queued")
        return events
    }

    /// What an instance may claim now, after its health decided (a due
    /// health check is queued first): its own key first, then its
    /// device's; and whether it may take sets from other tasks.
    /// The routing keys of the worker's device (without its own key).
    static func deviceKeys(_ worker: WorkerRecord) -> [String] {
        DeviceProperties(devicegroup: worker.deviceGroup, devicename: worker.deviceName, deviceid: worker.deviceID).consumedRoutingKeys
    }

    /// Whether a claim that only polled should take the write lock: always
    /// while the instance's health may have something to do (anything but
    /// good), else when a task waits for it. A plain read.
    func worthClaiming(_ worker: WorkerRecord, tx: StoreTransaction) async throws -> Bool {
        guard try await tx.health(workerID: worker.id)?.state.health == .good else { return true }
        return try await tx.hasQueued(routingKeys: [Self.instanceKey(worker.id)] + Self.deviceKeys(worker))
    }

    func claimKeys(_ worker: WorkerRecord, tx: StoreTransaction, at now: Date) async throws -> (
        keys: [String], work: Bool, events: [MonitorEvent]
    ) {
        guard
            let (change, events) = try await applyHealth(
                .wantsWork(checkID: UUID().uuidString.lowercased()), workerID: worker.id, worker: worker, tx: tx, at: now)
        else { return ([], false, []) }
        let own = Self.instanceKey(worker.id)
        switch DeviceHealth(state: change.record.state, rules: healthRules(worker)).claims {
        case .nothing: return ([], false, events)
        case .healthCheck: return ([own], false, events)
        case .work:
            return ([own] + Self.deviceKeys(worker), true, events)
        }
    }

    /// A task ended as its worker reported: its instance's health hears of
    /// it, unless it was a health check (whose testrun's end counts).
    func taskEndedForHealth(_ change: TaskChange, owner: String, tx: StoreTransaction, at now: Date) async throws -> [MonitorEvent] {
        guard change.isWritten, Self.healthCheckOf(routingKey: change.task.routingKey) == nil else { return [] }
        let category: ErrorCategory? =
            if case .failed(let category, _) = change.action.state { category } else { nil }
        return try await applyHealth(.taskEnded(task: change.task.id, category: category), workerID: owner, tx: tx, at: now)?.events ?? []
    }

    /// A health check's testrun ended: its instance's health hears the verdict.
    func healthCheckEnded(_ testrun: TestrunRecord, state: TestrunLifecycle.State, tx: StoreTransaction, at now: Date) async throws
        -> [MonitorEvent]
    {
        guard let workerID = testrun.healthCheck, state.isEnded else { return [] }
        let verdict: Verdict = if case .finished(let decision) = state { decision.verdict } else { .error }
        return try await applyHealth(.checkEnded(testrun: testrun.id, verdict: verdict), workerID: workerID, tx: tx, at: now)?.events ?? []
    }

    // MARK: Operators

    /// An operator's command on a device: maintenance (it finishes the task
    /// it holds, then takes nothing), online (its health check first, when
    /// its group has one), retire. `by` names the operator's token.
    public func command(_ kind: DeviceCommand.Kind, _ command: DeviceCommand, workerID: String, by: String?, at now: Date = Date())
        async throws -> DeviceHealthView
    {
        if let problem = command.problem(for: kind) { throw DomainError(.invalid, problem.description, field: problem.field) }
        let reason = command.reason?.trimmingCharacters(in: .whitespacesAndNewlines).nilWhenEmpty
        let who = by.map { " by \($0)" } ?? " by an operator"
        let input: DeviceHealth.Input =
            switch kind {
            case .maintenance: .maintenance(reason: "put in maintenance\(who): \(reason ?? "")")
            case .online: .online(reason: "brought online\(who)" + (reason.map { ": \($0)" } ?? ""))
            case .retire: .retire(reason: "retired\(who)" + (reason.map { ": \($0)" } ?? ""))
            }
        try await store.transaction { tx in
            guard let (change, events) = try await applyHealth(input, workerID: workerID, by: by, tx: tx, at: now) else {
                throw DomainError(.notFound, "no worker instance \(workerID)", field: "instance")
            }
            if let rejection = change.action.rejection { throw DomainError(.conflict, "device \(workerID) \(rejection)") }
            try await append(events, tx: tx, at: now)
        }
        // Claims waiting meanwhile look again at what they may take.
        signal.notify()
        guard let view = try await devices().devices.first(where: { $0.workerID == workerID }) else {
            throw DomainError(.notFound, "no worker instance \(workerID)", field: "instance")
        }
        return view
    }

    /// Every registered instance's health.
    public func devices() async throws -> DeviceList {
        let (workers, records) = try await store.read { tx in (try await tx.workers(), try await tx.healthRecords()) }
        let health = Dictionary(records.map { ($0.workerID, $0.state) }, uniquingKeysWith: { first, _ in first })
        return DeviceList(
            devices: workers.map { worker in
                let state = health[worker.id] ?? DeviceHealth.State(since: worker.registeredAt)
                return DeviceHealthView(
                    workerID: worker.id,
                    device: DeviceProperties(devicegroup: worker.deviceGroup, devicename: worker.deviceName, deviceid: worker.deviceID),
                    state: worker.state, health: state.health, since: state.since, reason: state.reason, evidence: state.evidence,
                    failedChecks: state.failedChecks, nextCheckAt: state.nextCheckAt, healthCheck: state.check,
                    lastCheck: state.lastCheck.map { DeviceHealthView.LastCheck(testrunID: $0.testrun, verdict: $0.verdict, at: $0.at) })
            })
    }

    // MARK: Submitting

    /// Why a request may wait in vain: no good or unknown instance serves
    /// its device (by health, whatever their liveness). Empty when one does.
    func unservedWarnings(_ request: TestrunRequest) async throws -> [String] {
        try await store.read { try await unservedWarnings(request, tx: $0) }
    }

    func unservedWarnings(_ request: TestrunRequest, tx: StoreTransaction) async throws -> [String] {
        let key = request.device.requestedRoutingKey
        let (workers, records) = (try await tx.workers(), try await tx.healthRecords())
        let health = Dictionary(records.map { ($0.workerID, $0.state.health) }, uniquingKeysWith: { first, _ in first })
        let serving = workers.filter {
            DeviceProperties(devicegroup: $0.deviceGroup, devicename: $0.deviceName, deviceid: $0.deviceID).consumedRoutingKeys.contains(
                key)
        }
        guard !serving.contains(where: { (health[$0.id] ?? .unknown).serves }) else { return [] }
        if serving.isEmpty {
            return ["device: no worker instance serves \(key); the testrun waits for one (or its queue timeout)"]
        }
        let listed = serving.prefix(20).map { "\($0.id) is \(health[$0.id] ?? .unknown)" }.joined(separator: ", ")
        return ["device: no good or unknown worker instance serves \(key) (\(listed)); the testrun waits for one (or its queue timeout)"]
    }
}

extension String {
    var nilWhenEmpty: String? { isEmpty ? nil : self }
}
