import Foundation
import OTSCore
import SQLKit

extension Migrations {
    /// Migration 13: each instance's health, and which testruns are health
    /// checks (of which instance).
    static let healthSchema = [
        """
        CREATE TABLE device_health (
            worker_id TEXT PRIMARY KEY,
            health TEXT NOT NULL,
            since BIGINT NOT NULL,
            reason TEXT NOT NULL,
            evidence TEXT NOT NULL,
            recent TEXT NOT NULL,
            failed_checks INTEGER NOT NULL,
            next_check_at BIGINT,
            check_testrun TEXT,
            tasks_since_check INTEGER NOT NULL,
            last_check_testrun TEXT,
            last_check_verdict TEXT,
            last_check_at BIGINT,
            version BIGINT NOT NULL
        )
        """,
        "ALTER TABLE testruns ADD COLUMN health_check TEXT",
    ]
}

/// An instance's health as the store holds it.
public struct HealthRecord: Sendable, Hashable {
    public var workerID: String
    public var state: DeviceHealth.State
    /// Counts the writes: the compare-and-set of `perform` is on it.
    public var version: Int64

    public init(workerID: String, state: DeviceHealth.State, version: Int64 = 0) {
        self.workerID = workerID
        self.state = state
        self.version = version
    }
}

/// What `perform` did with an instance's health.
public struct HealthChange: Sendable, Hashable {
    public var action: DeviceHealth.Action
    /// The health as written; as it was when nothing was written.
    public var record: HealthRecord
    /// The write found the health changed since it was read (another
    /// replica or request decided first): nothing was written.
    public var lost: Bool

    public var isWritten: Bool { action.write && !lost }
}

extension StoreTransaction {
    static let healthColumns =
        "worker_id, health, since, reason, evidence, recent, failed_checks, next_check_at, check_testrun, tasks_since_check, last_check_testrun, last_check_verdict, last_check_at, version"

    /// Records a new instance's health (`unknown`); false when it has one.
    public func insertHealth(workerID: String, at now: Date = Date()) async throws -> Bool {
        try await !db.raw(
            """
            INSERT INTO device_health (worker_id, health, since, reason, evidence, recent, failed_checks, tasks_since_check, version)
            VALUES (\(bind: workerID), 'unknown', \(bind: Clock.millis(now)), 'registered', '[]', '[]', 0, 0, 0)
            ON CONFLICT (worker_id) DO NOTHING RETURNING worker_id
            """
        ).all().isEmpty
    }

    public func health(workerID: String) async throws -> HealthRecord? {
        try await db.raw("SELECT \(unsafeRaw: Self.healthColumns) FROM device_health WHERE worker_id = \(bind: workerID)").first()
            .map(Self.health)
    }

    /// The instance's health, locked for this transaction (PostgreSQL), so
    /// that two replicas deciding on it take turns.
    public func lockHealth(workerID: String) async throws -> HealthRecord? {
        try await db.raw(
            "SELECT \(unsafeRaw: Self.healthColumns) FROM device_health WHERE worker_id = \(bind: workerID)\(unsafeRaw: forUpdate)"
        ).first().map(Self.health)
    }

    /// Every instance's health, by worker id.
    public func healthRecords() async throws -> [HealthRecord] {
        try await db.raw("SELECT \(unsafeRaw: Self.healthColumns) FROM device_health ORDER BY worker_id").all().map(Self.health)
    }

    /// Runs one input through the instance's health machine under `rules`
    /// and writes what it decides, as one compare-and-set on the version
    /// `record` has (`UPDATE … WHERE worker_id = ? AND version = ?`). This
    /// is the only place that changes an instance's health.
    public func perform(_ input: DeviceHealth.Input, on record: HealthRecord, rules: HealthRules, at now: Date = Date()) async throws
        -> HealthChange
    {
        var machine = DeviceHealth(state: record.state, rules: rules)
        let action = machine.handle(input, at: now)
        guard action.write else { return HealthChange(action: action, record: record, lost: false) }
        let state = action.state
        let encoder = JSONCoding.encoder()
        let written = try await db.raw(
            """
            UPDATE device_health SET health = \(bind: state.health.rawValue), since = \(bind: Clock.millis(state.since)),
                reason = \(bind: state.reason), evidence = \(bind: String(decoding: try encoder.encode(state.evidence), as: UTF8.self)),
                recent = \(bind: String(decoding: try encoder.encode(state.recent), as: UTF8.self)),
                failed_checks = \(bind: state.failedChecks), next_check_at = \(bind: state.nextCheckAt.map { Clock.millis($0) }),
                check_testrun = \(bind: state.check), tasks_since_check = \(bind: state.tasksSinceCheck),
                last_check_testrun = \(bind: state.lastCheck?.testrun), last_check_verdict = \(bind: state.lastCheck?.verdict.rawValue),
                last_check_at = \(bind: state.lastCheck.map { Clock.millis($0.at) }), version = version + 1
            WHERE worker_id = \(bind: record.workerID) AND version = \(bind: record.version) RETURNING version
            """
        ).first()
        guard let version = try written?.decode(column: "version", as: Int64.self) else {
            return HealthChange(action: action, record: record, lost: true)
        }
        return HealthChange(action: action, record: HealthRecord(workerID: record.workerID, state: state, version: version), lost: false)
    }

    /// Marks a testrun as the health check of an instance.
    public func markHealthCheck(testrunID: String, workerID: String) async throws {
        try await db.raw("UPDATE testruns SET health_check = \(bind: workerID) WHERE id = \(bind: testrunID)").run()
    }

    static func health(_ row: any SQLRow) throws -> HealthRecord {
        let decoder = JSONCoding.decoder()
        func date(_ column: String) throws -> Date? { try row.decode(column: column, as: Int64?.self).map(Clock.date) }
        let workerID = try row.decode(column: "worker_id", as: String.self)
        let text = try row.decode(column: "health", as: String.self)
        guard let health = Health(rawValue: text) else {
            throw StoreError(.corrupt, "worker \(workerID) has the unknown health '\(text)'")
        }
        var lastCheck: DeviceHealth.CheckResult?
        if let testrun = try row.decode(column: "last_check_testrun", as: String?.self),
            let verdict = try row.decode(column: "last_check_verdict", as: String?.self).flatMap(Verdict.init(rawValue:)),
            let at = try date("last_check_at")
        {
            lastCheck = DeviceHealth.CheckResult(testrun: testrun, verdict: verdict, at: at)
        }
        return HealthRecord(
            workerID: workerID,
            state: DeviceHealth.State(
                health: health, since: try date("since") ?? Date(timeIntervalSince1970: 0),
                reason: try row.decode(column: "reason", as: String.self),
                evidence: try decoder.decode([String].self, from: Data(try row.decode(column: "evidence", as: String.self).utf8)),
                recent: try decoder.decode([DeviceHealth.Outcome].self, from: Data(try row.decode(column: "recent", as: String.self).utf8)),
                failedChecks: try row.decode(column: "failed_checks", as: Int.self), nextCheckAt: try date("next_check_at"),
                check: try row.decode(column: "check_testrun", as: String?.self),
                tasksSinceCheck: try row.decode(column: "tasks_since_check", as: Int.self), lastCheck: lastCheck),
            version: try row.decode(column: "version", as: Int64.self))
    }
}
