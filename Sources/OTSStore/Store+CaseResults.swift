import Foundation
import OTSCore
import SQLKit

/// One stored case result: a case of an uploaded results file, or a flash
/// or boot of an attempt (package `@device`), with the device and image it
/// ran on.
public struct CaseResultRow: Sendable, Hashable {
    /// The store's id (0 before it is stored).
    public var id: Int64
    public var testrunID: String
    public var taskID: String
    public var attempt: Int
    /// The upload it came in: a package uploaded again replaces it.
    public var uploadID: String
    public var package: String
    public var setName: String
    public var caseName: String
    public var ordinal: Int
    public var result: String
    public var significant: Bool
    public var durationMs: Int64?
    public var failureInfo: String?
    public var worker: String
    public var deviceGroup: String
    public var deviceName: String?
    public var deviceID: String?
    public var image: String?
    public var imageChecksum: String?
    public var swProduct: String?
    public var recordedAt: Date
    /// The steps (JSON); empty when not read.
    public var steps: String
    /// The likely cause of a failure: its kind, and the whole (JSON).
    public var cause: String?
    public var causeDetail: String?

    public init(
        id: Int64 = 0, testrunID: String, taskID: String, attempt: Int, uploadID: String, package: String, setName: String,
        caseName: String, ordinal: Int, result: String, significant: Bool = true, durationMs: Int64? = nil, failureInfo: String? = nil,
        worker: String, deviceGroup: String, deviceName: String? = nil, deviceID: String? = nil, image: String? = nil,
        imageChecksum: String? = nil, swProduct: String? = nil, recordedAt: Date, steps: String = "[]", cause: String? = nil,
        causeDetail: String? = nil
    ) {
        self.id = id
        self.testrunID = testrunID
        self.taskID = taskID
        self.attempt = attempt
        self.uploadID = uploadID
        self.package = package
        self.setName = setName
        self.caseName = caseName
        self.ordinal = ordinal
        self.result = result
        self.significant = significant
        self.durationMs = durationMs
        self.failureInfo = failureInfo
        self.worker = worker
        self.deviceGroup = deviceGroup
        self.deviceName = deviceName
        self.deviceID = deviceID
        self.image = image
        self.imageChecksum = imageChecksum
        self.swProduct = swProduct
        self.recordedAt = recordedAt
        self.steps = steps
        self.cause = cause
        self.causeDetail = causeDetail
    }
}

/// What the monitor keeps of one case on one device group: its newest
/// runs (encoded by the monitor) and whether it is flaky.
public struct CaseStateRecord: Sendable, Hashable {
    /// The case's key (`["package","set","case"]` as JSON).
    public var caseKey: String
    public var deviceGroup: String
    public var package: String
    public var setName: String
    public var caseName: String
    public var runs: String
    public var flaky: Bool
    public var flakySince: Date?
    /// Why it is flaky (JSON), when it is.
    public var flakyDetail: String?
    public var updatedAt: Date

    public init(
        caseKey: String, deviceGroup: String, package: String, setName: String, caseName: String, runs: String, flaky: Bool = false,
        flakySince: Date? = nil, flakyDetail: String? = nil, updatedAt: Date
    ) {
        self.caseKey = caseKey
        self.deviceGroup = deviceGroup
        self.package = package
        self.setName = setName
        self.caseName = caseName
        self.runs = runs
        self.flaky = flaky
        self.flakySince = flakySince
        self.flakyDetail = flakyDetail
        self.updatedAt = updatedAt
    }

    /// The key of a case: unambiguous whatever its names hold.
    public static func key(package: String, setName: String, caseName: String) -> String {
        (try? JSONCoding.string([package, setName, caseName])) ?? "\(package)\u{1}\(setName)\u{1}\(caseName)"
    }
}

/// An attempt of a task as the monitor heard it claimed, and how its flash
/// and boot went (`ok` or `failed`, the last try's).
public struct CaseAttemptRecord: Sendable, Hashable {
    public var taskID: String
    public var attempt: Int
    public var testrunID: String
    public var worker: String
    public var deviceGroup: String
    public var deviceName: String?
    public var deviceID: String?
    public var image: String?
    public var imageChecksum: String?
    public var swProduct: String?
    public var flash: String?
    public var boot: String?
    public var claimedAt: Date

    public init(
        taskID: String, attempt: Int, testrunID: String, worker: String, deviceGroup: String, deviceName: String? = nil,
        deviceID: String? = nil, image: String? = nil, imageChecksum: String? = nil, swProduct: String? = nil, flash: String? = nil,
        boot: String? = nil, claimedAt: Date
    ) {
        self.taskID = taskID
        self.attempt = attempt
        self.testrunID = testrunID
        self.worker = worker
        self.deviceGroup = deviceGroup
        self.deviceName = deviceName
        self.deviceID = deviceID
        self.image = image
        self.imageChecksum = imageChecksum
        self.swProduct = swProduct
        self.flash = flash
        self.boot = boot
        self.claimedAt = claimedAt
    }
}

/// Which of a testrun's case results to read.
public struct CaseResultFilter: Sendable, Hashable {
    public var result: String?
    public var package: String?
    /// Part of the case's name (any case).
    public var name: String?
    public var limit: Int
    /// Whether to read the steps too.
    public var steps: Bool

    public init(result: String? = nil, package: String? = nil, name: String? = nil, limit: Int = 10_000, steps: Bool = false) {
        self.result = result
        self.package = package
        self.name = name
        self.limit = limit
        self.steps = steps
    }
}

/// A result of a worker instance or of its peers, for judging a device.
public struct CaseOutcome: Sendable, Hashable {
    public var package: String
    public var setName: String
    public var caseName: String
    public var worker: String
    public var result: String

    public init(package: String, setName: String, caseName: String, worker: String, result: String) {
        self.package = package
        self.setName = setName
        self.caseName = caseName
        self.worker = worker
        self.result = result
    }
}

extension StoreTransaction {
    static let caseColumns = """
        id, testrun_id, task_id, attempt, upload_id, package, set_name, case_name, ordinal, result, significant, duration_ms,
        failure_info, worker, device_group, device_name, device_id, image, image_checksum, sw_product, recorded_at, cause, cause_detail
        """

    // MARK: Case results

    /// Stores case results; returns their ids, in the order given.
    @discardableResult
    public func insertCaseResults(_ rows: [CaseResultRow]) async throws -> [Int64] {
        var ids: [Int64] = []
        ids.reserveCapacity(rows.count)
        for start in stride(from: 0, to: rows.count, by: 100) {
            let chunk = rows[start..<min(start + 100, rows.count)]
            var query = SQLQueryString(
                """
                INSERT INTO case_results (testrun_id, task_id, attempt, upload_id, package, set_name, case_name, ordinal, result,
                    significant, duration_ms, failure_info, worker, device_group, device_name, device_id, image, image_checksum,
                    sw_product, recorded_at, steps, cause, cause_detail) VALUES
                """
            )
            for (offset, row) in chunk.enumerated() {
                if offset > 0 { query.appendInterpolation(unsafeRaw: ", ") }
                let values: SQLQueryString = """
                    (\(bind: row.testrunID), \(bind: row.taskID), \(bind: row.attempt), \(bind: row.uploadID), \(bind: row.package),
                     \(bind: row.setName), \(bind: row.caseName), \(bind: row.ordinal), \(bind: row.result), \(bind: row.significant ? 1 : 0),
                     \(bind: row.durationMs), \(bind: row.failureInfo), \(bind: row.worker), \(bind: row.deviceGroup), \(bind: row.deviceName),
                     \(bind: row.deviceID), \(bind: row.image), \(bind: row.imageChecksum), \(bind: row.swProduct),
                     \(bind: Clock.millis(row.recordedAt)), \(bind: row.steps), \(bind: row.cause), \(bind: row.causeDetail))
                    """
                query.appendInterpolation(values)
            }
            query.appendInterpolation(unsafeRaw: " RETURNING id, upload_id, ordinal")
            var byPlace: [String: Int64] = [:]
            for returned in try await db.raw(query).all() {
                let key =
                    try returned.decode(column: "upload_id", as: String.self) + "\u{0}"
                    + String(try returned.decode(column: "ordinal", as: Int.self))
                byPlace[key] = try returned.decode(column: "id", as: Int64.self)
            }
            for row in chunk {
                guard let id = byPlace[row.uploadID + "\u{0}" + String(row.ordinal)] else {
                    throw StoreError(.corrupt, "case result \(row.package)/\(row.setName)/\(row.caseName) was not stored")
                }
                ids.append(id)
            }
        }
        return ids
    }

    /// Removes the case results of a task's package that came in another
    /// upload than `keeping`; returns what was removed (without steps).
    public func removeCaseResults(taskID: String, package: String, keeping upload: String) async throws -> [CaseResultRow] {
        let rows = try await db.raw(
            """
            SELECT \(unsafeRaw: Self.caseColumns) FROM case_results
            WHERE task_id = \(bind: taskID) AND package = \(bind: package) AND upload_id <> \(bind: upload)
            """
        ).all().map { try Self.caseRow($0, steps: false) }
        if !rows.isEmpty {
            try await db.raw(
                "DELETE FROM case_results WHERE task_id = \(bind: taskID) AND package = \(bind: package) AND upload_id <> \(bind: upload)"
            ).run()
        }
        return rows
    }

    /// Sets the likely cause of stored failures.
    public func updateCauses(_ causes: [(id: Int64, cause: String?, detail: String?)]) async throws {
        for change in causes {
            try await db.raw(
                "UPDATE case_results SET cause = \(bind: change.cause), cause_detail = \(bind: change.detail) WHERE id = \(bind: change.id)"
            ).run()
        }
    }

    /// A testrun's case results in package and results order, without
    /// their steps.
    public func caseResults(testrunID: String, _ filter: CaseResultFilter = CaseResultFilter()) async throws -> [CaseResultRow] {
        var query = SQLQueryString(
            "SELECT \(unsafeRaw: Self.caseColumns)\(unsafeRaw: filter.steps ? ", steps" : "") FROM case_results WHERE testrun_id = \(bind: testrunID)"
        )
        if let result = filter.result { query.appendInterpolation(" AND result = \(bind: result)" as SQLQueryString) }
        if let package = filter.package { query.appendInterpolation(" AND package = \(bind: package)" as SQLQueryString) }
        if let name = filter.name, !name.isEmpty {
            let pattern = "%" + Self.likeEscaped(name) + "%"
            query.appendInterpolation(" AND LOWER(case_name) LIKE LOWER(\(bind: pattern)) ESCAPE '!'" as SQLQueryString)
        }
        query.appendInterpolation(unsafeRaw: " ORDER BY package, recorded_at, task_id, ordinal LIMIT \(max(1, filter.limit))")
        return try await db.raw(query).all().map { try Self.caseRow($0, steps: filter.steps) }
    }

    /// One case of a testrun with its steps; the newest when it ran more
    /// than once.
    public func caseResult(testrunID: String, package: String, setName: String, caseName: String) async throws -> CaseResultRow? {
        let row = try await db.raw(
            """
            SELECT \(unsafeRaw: Self.caseColumns), steps FROM case_results
            WHERE testrun_id = \(bind: testrunID) AND package = \(bind: package) AND set_name = \(bind: setName)
              AND case_name = \(bind: caseName)
            ORDER BY recorded_at DESC, id DESC LIMIT 1
            """
        ).first()
        return try row.map { try Self.caseRow($0, steps: true) }
    }

    /// Results of a case, or of a package's or set's cases, newest first.
    public func caseHistory(package: String, setName: String? = nil, caseName: String? = nil, deviceGroup: String? = nil, limit: Int = 50)
        async throws -> [CaseResultRow]
    {
        var query = SQLQueryString("SELECT \(unsafeRaw: Self.caseColumns) FROM case_results WHERE package = \(bind: package)")
        if let setName { query.appendInterpolation(" AND set_name = \(bind: setName)" as SQLQueryString) }
        if let caseName { query.appendInterpolation(" AND case_name = \(bind: caseName)" as SQLQueryString) }
        if let deviceGroup { query.appendInterpolation(" AND device_group = \(bind: deviceGroup)" as SQLQueryString) }
        query.appendInterpolation(unsafeRaw: " ORDER BY recorded_at DESC, id DESC LIMIT \(max(1, limit))")
        return try await db.raw(query).all().map { try Self.caseRow($0, steps: false) }
    }

    /// The newest results of one worker instance, or of a device group's
    /// instances but one.
    public func caseOutcomes(worker: String? = nil, deviceGroup: String? = nil, excluding: String? = nil, limit: Int) async throws
        -> [CaseOutcome]
    {
        var query = SQLQueryString("SELECT package, set_name, case_name, worker, result FROM case_results WHERE ")
        if let worker {
            query.appendInterpolation("worker = \(bind: worker)" as SQLQueryString)
        } else {
            query.appendInterpolation("device_group = \(bind: deviceGroup ?? "")" as SQLQueryString)
        }
        if let excluding { query.appendInterpolation(" AND worker <> \(bind: excluding)" as SQLQueryString) }
        query.appendInterpolation(unsafeRaw: " ORDER BY recorded_at DESC LIMIT \(max(1, limit))")
        return try await db.raw(query).all().map { row in
            CaseOutcome(
                package: try row.decode(column: "package", as: String.self),
                setName: try row.decode(column: "set_name", as: String.self),
                caseName: try row.decode(column: "case_name", as: String.self),
                worker: try row.decode(column: "worker", as: String.self),
                result: try row.decode(column: "result", as: String.self))
        }
    }

    /// Failures in a window by likely cause (`unknown` for those not judged).
    public func failureCauses(since: Date, until: Date, deviceGroup: String? = nil, worker: String? = nil) async throws -> [String: Int] {
        var query = SQLQueryString(
            """
            SELECT COALESCE(cause, 'unknown') AS cause, COUNT(*) AS n FROM case_results
            WHERE result = 'FAIL' AND recorded_at >= \(bind: Clock.millis(since)) AND recorded_at < \(bind: Clock.millis(until))
            """
        )
        if let deviceGroup { query.appendInterpolation(" AND device_group = \(bind: deviceGroup)" as SQLQueryString) }
        if let worker { query.appendInterpolation(" AND worker = \(bind: worker)" as SQLQueryString) }
        query.appendInterpolation(unsafeRaw: " GROUP BY COALESCE(cause, 'unknown')")
        var counts: [String: Int] = [:]
        for row in try await db.raw(query).all() {
            counts[try row.decode(column: "cause", as: String.self)] = try row.decode(column: "n", as: Int.self)
        }
        return counts
    }

    static func likeEscaped(_ text: String) -> String {
        var escaped = ""
        for character in text {
            if "!%_".contains(character) { escaped.append("!") }
            escaped.append(character)
        }
        return escaped
    }

    static func caseRow(_ row: any SQLRow, steps: Bool) throws -> CaseResultRow {
        CaseResultRow(
            id: try row.decode(column: "id", as: Int64.self),
            testrunID: try row.decode(column: "testrun_id", as: String.self),
            taskID: try row.decode(column: "task_id", as: String.self),
            attempt: try row.decode(column: "attempt", as: Int.self),
            uploadID: try row.decode(column: "upload_id", as: String.self),
            package: try row.decode(column: "package", as: String.self),
            setName: try row.decode(column: "set_name", as: String.self),
            caseName: try row.decode(column: "case_name", as: String.self),
            ordinal: try row.decode(column: "ordinal", as: Int.self),
            result: try row.decode(column: "result", as: String.self),
            significant: try row.decode(column: "significant", as: Int.self) != 0,
            durationMs: try row.decode(column: "duration_ms", as: Int64?.self),
            failureInfo: try row.decode(column: "failure_info", as: String?.self),
            worker: try row.decode(column: "worker", as: String.self),
            deviceGroup: try row.decode(column: "device_group", as: String.self),
            deviceName: try row.decode(column: "device_name", as: String?.self),
            deviceID: try row.decode(column: "device_id", as: String?.self),
            image: try row.decode(column: "image", as: String?.self),
            imageChecksum: try row.decode(column: "image_checksum", as: String?.self),
            swProduct: try row.decode(column: "sw_product", as: String?.self),
            recordedAt: Clock.date(try row.decode(column: "recorded_at", as: Int64.self)),
            steps: steps ? try row.decode(column: "steps", as: String.self) : "[]",
            cause: try row.decode(column: "cause", as: String?.self),
            causeDetail: try row.decode(column: "cause_detail", as: String?.self))
    }

    // MARK: Case states

    /// The states of cases on device groups, by key and group.
    public func caseStates(_ keys: [(caseKey: String, deviceGroup: String)]) async throws -> [CaseStateRecord] {
        var states: [CaseStateRecord] = []
        let byGroup = Dictionary(grouping: keys, by: \.deviceGroup)
        for (group, entries) in byGroup {
            let wanted = Array(Set(entries.map(\.caseKey)))
            for start in stride(from: 0, to: wanted.count, by: 500) {
                let chunk = Array(wanted[start..<min(start + 500, wanted.count)])
                let rows = try await db.raw(
                    """
                    SELECT case_key, device_group, package, set_name, case_name, runs, flaky, flaky_since, flaky_detail, updated_at
                    FROM case_states WHERE device_group = \(bind: group) AND case_key IN (\(binds: chunk))
                    """
                ).all()
                states += try rows.map(Self.caseState)
            }
        }
        return states
    }

    /// Stores states, replacing those of the same key and group.
    public func saveCaseStates(_ states: [CaseStateRecord]) async throws {
        for start in stride(from: 0, to: states.count, by: 100) {
            var query = SQLQueryString(
                """
                INSERT INTO case_states (case_key, device_group, package, set_name, case_name, runs, flaky, flaky_since, flaky_detail,
                    updated_at) VALUES
                """
            )
            for (offset, state) in states[start..<min(start + 100, states.count)].enumerated() {
                if offset > 0 { query.appendInterpolation(unsafeRaw: ", ") }
                let values: SQLQueryString = """
                    (\(bind: state.caseKey), \(bind: state.deviceGroup), \(bind: state.package), \(bind: state.setName),
                     \(bind: state.caseName), \(bind: state.runs), \(bind: state.flaky ? 1 : 0), \(bind: state.flakySince.map { Clock.millis($0) }),
                     \(bind: state.flakyDetail), \(bind: Clock.millis(state.updatedAt)))
                    """
                query.appendInterpolation(values)
            }
            query.appendInterpolation(
                unsafeRaw: """
                     ON CONFLICT (case_key, device_group) DO UPDATE SET runs = excluded.runs, flaky = excluded.flaky,
                    flaky_since = excluded.flaky_since, flaky_detail = excluded.flaky_detail, updated_at = excluded.updated_at
                    """)
            try await db.raw(query).run()
        }
    }

    /// The flaky cases, of one device group or of all, by case.
    public func flakyCaseStates(deviceGroup: String? = nil) async throws -> [CaseStateRecord] {
        var query = SQLQueryString(
            """
            SELECT case_key, device_group, package, set_name, case_name, runs, flaky, flaky_since, flaky_detail, updated_at
            FROM case_states WHERE flaky = 1
            """
        )
        if let deviceGroup { query.appendInterpolation(" AND device_group = \(bind: deviceGroup)" as SQLQueryString) }
        query.appendInterpolation(unsafeRaw: " ORDER BY package, set_name, case_name, device_group")
        return try await db.raw(query).all().map(Self.caseState)
    }

    static func caseState(_ row: any SQLRow) throws -> CaseStateRecord {
        CaseStateRecord(
            caseKey: try row.decode(column: "case_key", as: String.self),
            deviceGroup: try row.decode(column: "device_group", as: String.self),
            package: try row.decode(column: "package", as: String.self),
            setName: try row.decode(column: "set_name", as: String.self),
            caseName: try row.decode(column: "case_name", as: String.self),
            runs: try row.decode(column: "runs", as: String.self),
            flaky: try row.decode(column: "flaky", as: Int.self) != 0,
            flakySince: try row.decode(column: "flaky_since", as: Int64?.self).map(Clock.date),
            flakyDetail: try row.decode(column: "flaky_detail", as: String?.self),
            updatedAt: Clock.date(try row.decode(column: "updated_at", as: Int64.self)))
    }

    // MARK: Attempts and files

    /// Records an attempt as claimed; one already recorded stays.
    public func saveCaseAttempt(_ attempt: CaseAttemptRecord) async throws {
        try await db.raw(
            """
            INSERT INTO case_attempts (task_id, attempt, testrun_id, worker, device_group, device_name, device_id, image, image_checksum,
                sw_product, flash, boot, claimed_at)
            VALUES (\(bind: attempt.taskID), \(bind: attempt.attempt), \(bind: attempt.testrunID), \(bind: attempt.worker),
                    \(bind: attempt.deviceGroup), \(bind: attempt.deviceName), \(bind: attempt.deviceID), \(bind: attempt.image),
                    \(bind: attempt.imageChecksum), \(bind: attempt.swProduct), \(bind: attempt.flash), \(bind: attempt.boot),
                    \(bind: Clock.millis(attempt.claimedAt)))
            ON CONFLICT (task_id, attempt) DO NOTHING
            """
        ).run()
    }

    public func caseAttempt(taskID: String, attempt: Int) async throws -> CaseAttemptRecord? {
        let row = try await db.raw(
            """
            SELECT task_id, attempt, testrun_id, worker, device_group, device_name, device_id, image, image_checksum, sw_product,
                   flash, boot, claimed_at
            FROM case_attempts WHERE task_id = \(bind: taskID) AND attempt = \(bind: attempt)
            """
        ).first()
        return try row.map { row in
            CaseAttemptRecord(
                taskID: try row.decode(column: "task_id", as: String.self),
                attempt: try row.decode(column: "attempt", as: Int.self),
                testrunID: try row.decode(column: "testrun_id", as: String.self),
                worker: try row.decode(column: "worker", as: String.self),
                deviceGroup: try row.decode(column: "device_group", as: String.self),
                deviceName: try row.decode(column: "device_name", as: String?.self),
                deviceID: try row.decode(column: "device_id", as: String?.self),
                image: try row.decode(column: "image", as: String?.self),
                imageChecksum: try row.decode(column: "image_checksum", as: String?.self),
                swProduct: try row.decode(column: "sw_product", as: String?.self),
                flash: try row.decode(column: "flash", as: String?.self),
                boot: try row.decode(column: "boot", as: String?.self),
                claimedAt: Clock.date(try row.decode(column: "claimed_at", as: Int64.self)))
        }
    }

    /// Records how an attempt's flash or boot went (its last try).
    public func setCaseAttemptPhase(taskID: String, attempt: Int, phase: String, outcome: String) async throws {
        guard phase == "flash" || phase == "boot" else { return }
        try await db.raw(
            """
            UPDATE case_attempts SET \(unsafeRaw: phase) = \(bind: outcome) WHERE task_id = \(bind: taskID) AND attempt = \(bind: attempt)
            """
        ).run()
    }

    /// Removes a task's package's files whose names begin with `prefix`.
    public func removeFiles(taskID: String, package: String, namePrefix prefix: String) async throws {
        let pattern = Self.likeEscaped(prefix) + "%"
        try await db.raw(
            """
            DELETE FROM files WHERE task_id = \(bind: taskID) AND package = \(bind: package) AND name LIKE \(bind: pattern) ESCAPE '!'
            """
        ).run()
    }

    /// Records a package's fetched files (JSON), replacing those before.
    public func saveCaseFiles(taskID: String, package: String, testrunID: String, files: String) async throws {
        try await db.raw(
            """
            INSERT INTO case_files (task_id, package, testrun_id, files) VALUES (\(bind: taskID), \(bind: package), \(bind: testrunID),
                \(bind: files))
            ON CONFLICT (task_id, package) DO UPDATE SET files = excluded.files
            """
        ).run()
    }

    /// A testrun's packages' fetched files (JSON each), by task and package.
    public func caseFiles(testrunID: String) async throws -> [(taskID: String, package: String, files: String)] {
        try await db.raw(
            "SELECT task_id, package, files FROM case_files WHERE testrun_id = \(bind: testrunID) ORDER BY package, task_id"
        ).all().map { row in
            (
                try row.decode(column: "task_id", as: String.self), try row.decode(column: "package", as: String.self),
                try row.decode(column: "files", as: String.self)
            )
        }
    }
}
