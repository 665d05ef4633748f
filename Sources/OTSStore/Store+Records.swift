import Foundation
import OTSCore
import SQLKit

/// A worker instance as the store knows it.
public struct WorkerRecord: Sendable, Hashable {
    /// `host/instance`.
    public var id: String
    public var host: String
    public var instanceName: String
    public var version: String
    public var deviceGroup: String
    public var deviceName: String?
    public var deviceID: String?
    public var state: String
    public var lastHeartbeat: Date
    public var registeredAt: Date
    /// The worker process's id, as it registered.
    public var pid: Int32?
    /// The task it holds, as its last heartbeat said.
    public var currentTask: String?

    public init(
        host: String,
        instanceName: String,
        version: String,
        deviceGroup: String,
        deviceName: String? = nil,
        deviceID: String? = nil,
        state: String,
        lastHeartbeat: Date = Date(),
        registeredAt: Date = Date(),
        pid: Int32? = nil,
        currentTask: String? = nil
    ) {
        self.id = host + "/" + instanceName
        self.host = host
        self.instanceName = instanceName
        self.version = version
        self.deviceGroup = deviceGroup
        self.deviceName = deviceName
        self.deviceID = deviceID
        self.state = state
        self.lastHeartbeat = lastHeartbeat
        self.registeredAt = registeredAt
        self.pid = pid
        self.currentTask = currentTask
    }
}

/// The results of one package of a task.
public struct ResultRecord: Sendable, Hashable {
    public var taskID: String
    public var package: String
    /// The testdefinition-results XML.
    public var resultsXML: String
    /// The parsed case results (JSON).
    public var cases: String
    /// References to the fetched files (JSON).
    public var files: String

    public init(taskID: String, package: String, resultsXML: String, cases: String = "[]", files: String = "[]") {
        self.taskID = taskID
        self.package = package
        self.resultsXML = resultsXML
        self.cases = cases
        self.files = files
    }
}

/// A stored monitor event: the indexed fields and the whole event (JSON).
public struct EventRecord: Sendable, Hashable {
    public var id: String
    public var type: String
    public var emittedAt: Date
    public var receivedAt: Date
    public var testrunID: String?
    public var taskID: String?
    public var worker: String?
    public var signature: String?
    public var payload: String
    /// Its position on the monitor queue: the order events happened in.
    public var sequence: Int64?
    /// For statistics: the error's category, the duration, the try, and the
    /// testrun's device group.
    public var category: String?
    public var durationMs: Int64?
    public var tryNumber: Int?
    public var deviceGroup: String?

    public init(
        id: String,
        type: String,
        emittedAt: Date,
        receivedAt: Date,
        testrunID: String? = nil,
        taskID: String? = nil,
        worker: String? = nil,
        signature: String? = nil,
        payload: String,
        sequence: Int64? = nil,
        category: String? = nil,
        durationMs: Int64? = nil,
        tryNumber: Int? = nil,
        deviceGroup: String? = nil
    ) {
        self.id = id
        self.type = type
        self.emittedAt = emittedAt
        self.receivedAt = receivedAt
        self.testrunID = testrunID
        self.taskID = taskID
        self.worker = worker
        self.signature = signature
        self.payload = payload
        self.sequence = sequence
        self.category = category
        self.durationMs = durationMs
        self.tryNumber = tryNumber
        self.deviceGroup = deviceGroup
    }
}

/// How long a package or one of its sets ran.
public struct HistoryRecord: Sendable, Hashable {
    public var package: String
    /// Nil for the whole package.
    public var setName: String?
    public var deviceGroup: String
    public var duration: Duration
    public var verdict: String
    public var testrunID: String
    /// The task that ran it (nil in history recorded before tasks were).
    public var taskID: String?
    public var finishedAt: Date
    /// A whole package's run: its definition keeps it in one task.
    public var keepWhole: Bool

    public init(
        package: String, setName: String?, deviceGroup: String, duration: Duration, verdict: String, testrunID: String,
        taskID: String? = nil, finishedAt: Date, keepWhole: Bool = false
    ) {
        self.package = package
        self.setName = setName
        self.deviceGroup = deviceGroup
        self.duration = duration
        self.verdict = verdict
        self.testrunID = testrunID
        self.taskID = taskID
        self.finishedAt = finishedAt
        self.keepWhole = keepWhole
    }
}

/// A recorded run and whether it counts for estimates.
public struct HistoryRun: Sendable, Hashable {
    public var record: HistoryRecord
    /// False when the run ended in an error (verdict ERROR), its task was
    /// cancelled (the testrun cancelled or timed out) or failed with an
    /// infrastructure or device error (an OTS timeout, a lost lease, a lost
    /// device), or its testrun was cancelled.
    public var counts: Bool

    public init(record: HistoryRecord, counts: Bool) {
        self.record = record
        self.counts = counts
    }
}

extension StoreTransaction {
    // MARK: Workers

    /// Registers a worker instance, or updates it when it registers again.
    public func upsertWorker(_ worker: WorkerRecord) async throws {
        try await db.raw(
            """
            INSERT INTO workers (id, host, instance_name, version, device_group, device_name, device_id, state, last_heartbeat, registered_at, pid)
            VALUES (\(bind: worker.id), \(bind: worker.host), \(bind: worker.instanceName), \(bind: worker.version),
                    \(bind: worker.deviceGroup), \(bind: worker.deviceName), \(bind: worker.deviceID), \(bind: worker.state),
                    \(bind: Clock.millis(worker.lastHeartbeat)), \(bind: Clock.millis(worker.registeredAt)), \(bind: worker.pid.map(Int.init)))
            ON CONFLICT (id) DO UPDATE SET version = excluded.version, device_group = excluded.device_group,
                device_name = excluded.device_name, device_id = excluded.device_id, state = excluded.state,
                last_heartbeat = excluded.last_heartbeat, pid = excluded.pid, current_task = NULL
            """
        ).run()
    }

    /// Records a heartbeat; false when the worker is not registered.
    public func heartbeat(workerID: String, state: String, at now: Date = Date()) async throws -> Bool {
        try await !db.raw(
            "UPDATE workers SET state = \(bind: state), last_heartbeat = \(bind: Clock.millis(now)) WHERE id = \(bind: workerID) RETURNING id"
        ).all().isEmpty
    }

    /// Registered worker instances, or the one with `id`.
    public func workers(id: String? = nil) async throws -> [WorkerRecord] {
        var query = SQLQueryString(
            "SELECT id, host, instance_name, version, device_group, device_name, device_id, state, last_heartbeat, registered_at, pid, current_task FROM workers"
        )
        if let id { query.appendInterpolation(" WHERE id = \(bind: id)" as SQLQueryString) }
        query.appendInterpolation(unsafeRaw: " ORDER BY id")
        return try await db.raw(query).all().map { row in
            WorkerRecord(
                host: try row.decode(column: "host", as: String.self),
                instanceName: try row.decode(column: "instance_name", as: String.self),
                version: try row.decode(column: "version", as: String.self),
                deviceGroup: try row.decode(column: "device_group", as: String.self),
                deviceName: try row.decode(column: "device_name", as: String?.self),
                deviceID: try row.decode(column: "device_id", as: String?.self),
                state: try row.decode(column: "state", as: String.self),
                lastHeartbeat: Clock.date(try row.decode(column: "last_heartbeat", as: Int64.self)),
                registeredAt: Clock.date(try row.decode(column: "registered_at", as: Int64.self)),
                pid: try row.decode(column: "pid", as: Int?.self).map { Int32(truncatingIfNeeded: $0) },
                currentTask: try row.decode(column: "current_task", as: String?.self)
            )
        }
    }

    // MARK: Results

    /// Stores a package's results; a resent upload replaces the earlier one.
    public func saveResults(_ result: ResultRecord, at now: Date = Date()) async throws {
        try await db.raw(
            """
            INSERT INTO results (task_id, package, results_xml, cases, files, created_at)
            VALUES (\(bind: result.taskID), \(bind: result.package), \(bind: result.resultsXML), \(bind: result.cases),
                    \(bind: result.files), \(bind: Clock.millis(now)))
            ON CONFLICT (task_id, package) DO UPDATE SET results_xml = excluded.results_xml, cases = excluded.cases,
                files = excluded.files
            """
        ).run()
    }

    /// Every package result of a testrun's tasks, in task and package order.
    public func results(testrunID: String) async throws -> [ResultRecord] {
        try await db.raw(
            """
            SELECT r.task_id, r.package, r.results_xml, r.cases, r.files FROM results r JOIN tasks t ON t.id = r.task_id
            WHERE t.testrun_id = \(bind: testrunID) ORDER BY t.sequence, r.package
            """
        ).all().map { row in
            ResultRecord(
                taskID: try row.decode(column: "task_id", as: String.self),
                package: try row.decode(column: "package", as: String.self),
                resultsXML: try row.decode(column: "results_xml", as: String.self),
                cases: try row.decode(column: "cases", as: String.self),
                files: try row.decode(column: "files", as: String.self)
            )
        }
    }

    // MARK: Events

    /// Stores events; one already stored (same id) is left as it is, so a
    /// consumer can store a batch again safely. Returns how many were new.
    @discardableResult
    public func storeEvents(_ events: [EventRecord]) async throws -> Int {
        try await storeNewEvents(events).count
    }

    /// Stores events as `storeEvents` does, up to 100 a statement; returns
    /// the ids of those not stored before.
    public func storeNewEvents(_ events: [EventRecord]) async throws -> Set<String> {
        var new: Set<String> = []
        for start in stride(from: 0, to: events.count, by: 100) {
            var query = SQLQueryString(
                """
                INSERT INTO events (id, type, emitted_at, received_at, testrun_id, task_id, worker, signature, payload, seq,
                                    category, duration_ms, try_number, device_group) VALUES
                """
            )
            for (offset, event) in events[start..<min(start + 100, events.count)].enumerated() {
                if offset > 0 { query.appendInterpolation(unsafeRaw: ", ") }
                let row: SQLQueryString = """
                    (\(bind: event.id), \(bind: event.type), \(bind: Clock.millis(event.emittedAt)), \(bind: Clock.millis(event.receivedAt)),
                     \(bind: event.testrunID), \(bind: event.taskID), \(bind: event.worker), \(bind: event.signature), \(bind: event.payload),
                     \(bind: event.sequence), \(bind: event.category), \(bind: event.durationMs), \(bind: event.tryNumber),
                     \(bind: event.deviceGroup))
                    """
                query.appendInterpolation(row)
            }
            query.appendInterpolation(unsafeRaw: " ON CONFLICT (id) DO NOTHING RETURNING id")
            for row in try await db.raw(query).all() {
                new.insert(try row.decode(column: "id", as: String.self))
            }
        }
        return new
    }

    /// Stored events, oldest first, filtered by what is given.
    public func events(testrunID: String? = nil, worker: String? = nil, type: String? = nil, since: Date? = nil, limit: Int = 1000)
        async throws -> [EventRecord]
    {
        var query = SQLQueryString(
            "SELECT id, type, emitted_at, received_at, testrun_id, task_id, worker, signature, payload, seq FROM events WHERE 1 = 1")
        if let testrunID { query.appendInterpolation(" AND testrun_id = \(bind: testrunID)" as SQLQueryString) }
        if let worker { query.appendInterpolation(" AND worker = \(bind: worker)" as SQLQueryString) }
        if let type { query.appendInterpolation(" AND type = \(bind: type)" as SQLQueryString) }
        if let since { query.appendInterpolation(" AND received_at >= \(bind: Clock.millis(since))" as SQLQueryString) }
        // Queue order (commit order, the order things happened) where known, then time.
        query.appendInterpolation(unsafeRaw: " ORDER BY COALESCE(seq, 0), received_at, id LIMIT \(max(1, limit))")
        return try await db.raw(query).all().map(Self.event)
    }

    // MARK: History

    public func recordHistory(_ records: [HistoryRecord]) async throws {
        // Up to 100 rows a statement: a batch of events makes many.
        for start in stride(from: 0, to: records.count, by: 100) {
            var query = SQLQueryString(
                "INSERT INTO history (package, set_name, device_group, duration_ms, verdict, testrun_id, task_id, finished_at, keep_whole) VALUES "
            )
            for (offset, record) in records[start..<min(start + 100, records.count)].enumerated() {
                if offset > 0 { query.appendInterpolation(unsafeRaw: ", ") }
                let row: SQLQueryString = """
                    (\(bind: record.package), \(bind: record.setName), \(bind: record.deviceGroup), \(bind: record.duration.milliseconds), \
                    \(bind: record.verdict), \(bind: record.testrunID), \(bind: record.taskID), \(bind: Clock.millis(record.finishedAt)), \
                    \(bind: record.keepWhole ? 1 : 0))
                    """
                query.appendInterpolation(row)
            }
            try await db.raw(query).run()
        }
    }

    /// A device group's history of packages (and their sets), newest first.
    public func history(deviceGroup: String, packages: [String], limitPerKey: Int = 5) async throws -> [HistoryRecord] {
        guard !packages.isEmpty else { return [] }
        let rows = try await db.raw(
            """
            SELECT package, set_name, device_group, duration_ms, verdict, testrun_id, finished_at FROM history
            WHERE device_group = \(bind: deviceGroup) AND package IN (\(binds: packages))
            ORDER BY finished_at DESC
            """
        ).all()
        var counts: [String: Int] = [:]
        var records: [HistoryRecord] = []
        for row in rows {
            let package = try row.decode(column: "package", as: String.self)
            let setName = try row.decode(column: "set_name", as: String?.self)
            let key = package + "\u{0}" + (setName ?? "")
            guard counts[key, default: 0] < limitPerKey else { continue }
            counts[key, default: 0] += 1
            records.append(
                HistoryRecord(
                    package: package,
                    setName: setName,
                    deviceGroup: try row.decode(column: "device_group", as: String.self),
                    duration: .milliseconds(try row.decode(column: "duration_ms", as: Int64.self)),
                    verdict: try row.decode(column: "verdict", as: String.self),
                    testrunID: try row.decode(column: "testrun_id", as: String.self),
                    finishedAt: Clock.date(try row.decode(column: "finished_at", as: Int64.self))
                )
            )
        }
        return records
    }

    /// A device group's recorded runs of packages and their sets, newest
    /// first, each marked whether it counts: per package and set at most
    /// `limitPerKey` that count, and as many that do not.
    public func historyRuns(deviceGroup: String, packages: [String], limitPerKey: Int = 5, scanLimit: Int = 50_000)
        async throws -> [HistoryRun]
    {
        guard !packages.isEmpty else { return [] }
        let rows = try await db.raw(
            """
            SELECT h.package, h.set_name, h.device_group, h.duration_ms, h.verdict, h.testrun_id, h.task_id, h.finished_at, h.keep_whole,
                   t.state AS task_state, t.error_category AS task_category, r.state AS testrun_state
            FROM history h LEFT JOIN tasks t ON t.id = h.task_id LEFT JOIN testruns r ON r.id = h.testrun_id
            WHERE h.device_group = \(bind: deviceGroup) AND h.package IN (\(binds: packages))
            ORDER BY h.finished_at DESC LIMIT \(unsafeRaw: String(max(1, scanLimit)))
            """
        ).all()
        var valid: [String: Int] = [:]
        var invalid: [String: Int] = [:]
        var runs: [HistoryRun] = []
        for row in rows {
            let package = try row.decode(column: "package", as: String.self)
            let setName = try row.decode(column: "set_name", as: String?.self)
            let verdict = try row.decode(column: "verdict", as: String.self)
            let taskState = try row.decode(column: "task_state", as: String?.self).flatMap(TaskState.init(rawValue:))
            let taskCategory = try row.decode(column: "task_category", as: String?.self)
            let testrunState = try row.decode(column: "testrun_state", as: String?.self).flatMap(TestrunState.init(rawValue:))
            let counts =
                verdict != "ERROR" && taskState != .cancelled && testrunState != .cancelled
                && !(taskState == .failed && (taskCategory == "infrastructure" || taskCategory == "device"))
            let key = package + "\u{0}" + (setName ?? "")
            if counts {
                guard valid[key, default: 0] < limitPerKey else { continue }
                valid[key, default: 0] += 1
            } else {
                guard invalid[key, default: 0] < limitPerKey else { continue }
                invalid[key, default: 0] += 1
            }
            runs.append(
                HistoryRun(
                    record: HistoryRecord(
                        package: package, setName: setName, deviceGroup: try row.decode(column: "device_group", as: String.self),
                        duration: .milliseconds(try row.decode(column: "duration_ms", as: Int64.self)), verdict: verdict,
                        testrunID: try row.decode(column: "testrun_id", as: String.self),
                        taskID: try row.decode(column: "task_id", as: String?.self),
                        finishedAt: Clock.date(try row.decode(column: "finished_at", as: Int64.self)),
                        keepWhole: try row.decode(column: "keep_whole", as: Int?.self) == 1),
                    counts: counts))
        }
        return runs
    }
}
