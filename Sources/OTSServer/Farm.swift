import Distribution
import Foundation
import Logging
import OTSCore
import OTSHTTP
import OTSStore
import Synchronization

/// The server's logic over the store: testruns in, tasks out to workers,
/// their events and results back, timeouts, and verdicts. Stateless apart
/// from the claim signal, so several servers can share one PostgreSQL.
public final class Farm: Sendable {
    let store: Store
    let configuration: ServerConfiguration
    let models: DistributionModels
    let logger: Logger
    let signal = TaskSignal()
    /// When this server last forgot old received event ids (in a sweep).
    let sweeps = Mutex<Date?>(nil)
    /// Wakes those waiting for testruns to end (`request_sync`) when this
    /// server ends one; they look again now and then for the ends other
    /// replicas decide.
    let ended = TaskSignal()
    let sender = MonitorEvent.Sender.this("server")
    /// Where this server listens: a callback may not point back at it.
    let address: OwnAddress

    public init(store: Store, configuration: ServerConfiguration, models: DistributionModels = .builtIn, logger: Logger) {
        self.store = store
        self.configuration = configuration
        // The history model plans from this store unless one is given.
        self.models =
            models.model(named: "history") == nil
            ? models.adding(Self.historyModel(store: store, configuration: configuration)) : models
        self.logger = logger
        self.address = OwnAddress(host: configuration.host, port: configuration.port)
    }

    // MARK: Testruns

    /// Validates a request, plans its tasks and queues them, all in one
    /// transaction; a rejected request stores nothing.
    ///
    /// `scope` is the submitter's (nil when tokens are not checked): with
    /// `require_host_scope`, a request that runs commands on a worker host
    /// needs `submit-host`. `notes` go with the plan's (what the request
    /// asked that this farm ignores, say).
    public func submit(_ request: TestrunRequest, scope: TokenScope? = nil, notes: [String] = [], at now: Date = Date()) async throws
        -> TestrunView
    {
        let problems = request.problems(models: models.names)
        if !problems.isEmpty { throw DomainError(problems) }
        try Self.checkInlineDefinitions(request)
        if let url = request.callbackURL, address.isOwn(url) {
            throw DomainError(.invalid, "callback_url: '\(url.prefix(200))' points at this server", field: "callback_url")
        }
        if configuration.requireHostScope, let scope, !scope.grants(.submitHost) {
            let inlineHost = (request.inlineDefinitions ?? []).contains { $0.location == .host }
            let field =
                !request.packages.host.isEmpty
                ? "packages.host" : !(request.testDefinitions ?? []).isEmpty ? "test_definitions" : "inline_definitions"
            if !request.packages.host.isEmpty || !(request.testDefinitions ?? []).isEmpty || inlineHost {
                throw DomainError(
                    .forbidden,
                    "\(field): this farm runs host packages and test definitions by URL only for tokens with the submit-host scope (require_host_scope); this token has \(scope)",
                    field: field)
            }
        }
        // Refused before anything is stored when the server says so; else
        // the warning is worked out once the claims are woken.
        if configuration.refuseUnservable, let warning = try await unservedWarnings(request).first {
            throw DomainError(.conflict, warning + " (this server refuses such testruns: refuse_unservable)", field: "device")
        }
        let modelName = request.distributionModel ?? DistributionModels.defaultName
        guard let model = models.model(named: modelName) else {
            throw DomainError(.invalid, "distribution_model: unknown model '\(modelName)'", field: "distribution_model")
        }
        let plan = try await model.plan(
            DistributionRequest(
                packages: PackageRequest.all(in: request), device: request.device, maxWorkerAmount: request.maxWorkerAmount,
                targetExecutionTime: request.targetExecutionTime))
        var record = plan.record ?? PlanRecord(model: modelName, tasks: plan.tasks.count, notes: plan.notes)
        record.notes += notes
        let planJSON = try JSONCoding.string(record)
        let id = UUID().uuidString.lowercased()
        let requestJSON = try JSONCoding.string(request)
        let timeout = request.timeout ?? configuration.testrunTimeout
        let tasks = try plan.tasks.enumerated().map { index, work in
            NewTask(
                testrunID: id,
                sequence: index,
                routingKey: request.device.requestedRoutingKey,
                work: try JSONCoding.string(work),
                priority: request.priority ?? 0
            )
        }
        try await store.transaction { tx in
            try await tx.insertTestrun(
                id: id, request: requestJSON, deviceGroup: request.device.devicegroup, requestor: request.requestor,
                priority: request.priority ?? 0, deadline: now.addingTimeInterval(Double(timeout)), plan: planJSON, at: now
            )
            try await tx.enqueue(tasks, at: now)
            var events = [
                event(.testrunRequested, testrunID: id, details: Self.requestedDetails(request, model: modelName, notes: record.notes)),
                event(.testrunPlanned, testrunID: id, details: Self.plannedDetails(record, json: planJSON)),
            ]
            for task in tasks {
                events.append(event(.taskQueued, testrunID: id, taskID: task.id, details: ["routing_key": task.routingKey]))
            }
            events.append(event(.testrunQueued, testrunID: id, details: ["tasks": String(tasks.count)]))
            try await append(events, tx: tx, at: now)
        }
        signal.notify()
        logger.info("testrun \(id) queued: \(tasks.count) tasks for \(request.device.requestedRoutingKey) (\(modelName))")
        // One read for the answer, beside the claim it just woke.
        return try await store.read { tx in
            var view = try await testrun(id: id, tx: tx)
            let warnings = try await unservedWarnings(request, tx: tx)
            if !warnings.isEmpty { view.warnings = warnings }
            return view
        }
    }

    /// What `testrun.requested` tells: the model and the plan's notes, the
    /// product and build request, and who hears the verdict by e-mail.
    static func requestedDetails(_ request: TestrunRequest, model: String, notes: [String]) -> [String: String] {
        var details = ["model": model, "notes": notes.joined(separator: "; "), "devicegroup": request.device.devicegroup]
        if let image = request.image { details["image"] = image }
        if let mail = MailRequest(request, notes: notes) { details.merge(mail.details) { _, mail in mail } }
        if let product = request.swProduct { details["sw_product"] = product }
        if let id = request.requestID { details["request_id"] = id }
        return details
    }

    /// What `testrun.planned` tells: the plan's figures, and the whole
    /// record as JSON.
    static func plannedDetails(_ record: PlanRecord, json: String) -> [String: String] {
        var details = ["model": record.model, "tasks": String(record.tasks), "notes": record.notes.joined(separator: "; "), "plan": json]
        func add(_ key: String, _ value: Double?) {
            if let value { details[key] = String(format: "%.1f", value) }
        }
        add("estimated_makespan_seconds", record.estimatedMakespanSeconds)
        add("task_cost_seconds", record.taskCostSeconds)
        if let workers = record.workersAvailable { details["workers_available"] = String(workers) }
        if let degraded = record.degraded { details["degraded"] = String(degraded) }
        return details
    }

    public func testrun(id: String) async throws -> TestrunView {
        try await store.read { try await testrun(id: id, tx: $0) }
    }

    func testrun(id: String, tx: StoreTransaction) async throws -> TestrunView {
        guard let record = try await tx.testrun(id: id) else { throw DomainError(.notFound, "no testrun \(id)") }
        return try TestrunView(record, tasks: try await tx.tasks(testrunID: id), withTasks: true)
    }

    public func testruns(_ filter: TestrunFilter) async throws -> TestrunList {
        try await store.read { tx in
            let records = try await tx.testruns(filter)
            let tasks = try await tx.tasks(testrunIDs: records.map(\.id))
            return TestrunList(testruns: try records.map { try TestrunView($0, tasks: tasks[$0.id] ?? [], withTasks: false) })
        }
    }

    /// Cancels a testrun that has not ended: its tasks end too, and their
    /// workers are told to stop at their next heartbeat.
    public func cancel(id: String, at now: Date = Date()) async throws -> TestrunView {
        try await store.transaction { tx in
            guard let record = try await tx.lockTestrun(id: id) else { throw DomainError(.notFound, "no testrun \(id)") }
            let change = try await tx.perform(.cancel, on: record, at: now)
            if let rejection = change.action.rejection {
                throw DomainError(.conflict, "testrun \(id) \(rejection); nothing to cancel")
            }
            try await append(try await written(change, testrun: record, tx: tx, at: now), tx: tx, at: now)
        }
        ended.notify()
        logger.info("testrun \(id) cancelled")
        return try await testrun(id: id)
    }

    // MARK: Events

    func event(
        _ type: EventType,
        testrunID: String? = nil,
        taskID: String? = nil,
        attempt: Int? = nil,
        verdict: String? = nil,
        error: MonitorEvent.Failure? = nil,
        details: [String: String]? = nil
    ) -> MonitorEvent {
        var event = MonitorEvent(type: type, sender: sender, testrunID: testrunID, taskID: taskID, attempt: attempt)
        event.verdict = verdict
        event.error = error
        event.details = details
        return event
    }

    /// Appends events to the monitor queue in the caller's transaction,
    /// stamped as received now. An event found in `encoded` (the JSON of
    /// events encoded before the transaction, keyed by the whole event)
    /// is not encoded again.
    func append(_ events: [MonitorEvent], encoded: [MonitorEvent: String] = [:], tx: StoreTransaction, at now: Date) async throws {
        let messages = events.map { event -> (id: String, payload: String) in
            var event = event
            event.receivedAt = event.receivedAt ?? now
            return (event.id, encoded[event] ?? event.json)
        }
        try await tx.append(messages, at: now)
    }

    /// The queue's JSON of events, keyed by the event.
    static func encoded(_ events: [MonitorEvent]) -> [MonitorEvent: String] {
        var encoded: [MonitorEvent: String] = [:]
        encoded.reserveCapacity(events.count)
        for event in events { encoded[event] = event.json }
        return encoded
    }
}
