import Foundation
import Logging
import OTSCore
import SQLKit

/// The versioned schema. Each migration is a list of statements for a
/// dialect; applied versions are recorded in `ots_schema_versions`. A store
/// refuses to run on a schema newer than the last migration it knows.
public enum Migrations {
    struct Migration: Sendable {
        var version: Int
        var name: String
        var statements: @Sendable (Dialect) -> [String]
    }

    /// The newest schema version this build knows.
    public static var latestVersion: Int { all.last!.version }

    static let all: [Migration] = [
        Migration(version: 1, name: "initial schema", statements: initialSchema),
        Migration(version: 2, name: "farm: task progress, deadlines, files, received events", statements: farmSchema),
        Migration(version: 3, name: "worker process ids", statements: { _ in ["ALTER TABLE workers ADD COLUMN pid INTEGER"] }),
        Migration(
            version: 4, name: "event store: queue order",
            statements: { _ in ["ALTER TABLE events ADD COLUMN seq BIGINT", "CREATE INDEX events_seq ON events (seq)"] }),
        Migration(
            version: 5, name: "event store: fields for statistics",
            statements: { _ in
                [
                    "ALTER TABLE events ADD COLUMN category TEXT",
                    "ALTER TABLE events ADD COLUMN duration_ms BIGINT",
                    "ALTER TABLE events ADD COLUMN try_number INTEGER",
                    "ALTER TABLE events ADD COLUMN device_group TEXT",
                    "CREATE INDEX events_group ON events (device_group, type, received_at)",
                ]
            }),
        Migration(
            version: 6, name: "publishers: positions and dead letters",
            statements: { dialect in
                [
                    """
                    CREATE TABLE publisher_cursors (
                        publisher TEXT PRIMARY KEY,
                        position BIGINT NOT NULL,
                        updated_at BIGINT NOT NULL,
                        owner TEXT,
                        lease_until BIGINT
                    )
                    """,
                    """
                    CREATE TABLE dead_letters (
                        id \(dialect == .sqlite ? "INTEGER PRIMARY KEY AUTOINCREMENT" : "BIGSERIAL PRIMARY KEY"),
                        publisher TEXT NOT NULL,
                        url TEXT NOT NULL,
                        event_id TEXT NOT NULL,
                        payload TEXT NOT NULL,
                        attempts INTEGER NOT NULL,
                        error TEXT NOT NULL,
                        created_at BIGINT NOT NULL
                    )
                    """,
                ]
            }),
        Migration(
            version: 7, name: "history model: plans, history by task, sets started",
            statements: { _ in
                [
                    "ALTER TABLE testruns ADD COLUMN plan TEXT",
                    "ALTER TABLE history ADD COLUMN task_id TEXT",
                    """
                    CREATE TABLE task_sets (
                        task_id TEXT NOT NULL REFERENCES tasks (id),
                        package TEXT NOT NULL,
                        set_name TEXT NOT NULL,
                        started_at BIGINT NOT NULL,
                        PRIMARY KEY (task_id, package, set_name)
                    )
                    """,
                ]
            }),
        Migration(
            version: 8, name: "API tokens",
            statements: { _ in
                [
                    """
                    CREATE TABLE api_tokens (
                        id TEXT PRIMARY KEY,
                        name TEXT NOT NULL,
                        scope TEXT NOT NULL,
                        worker_id TEXT,
                        hash TEXT NOT NULL,
                        created_at BIGINT NOT NULL,
                        revoked_at BIGINT
                    )
                    """,
                    "CREATE INDEX api_tokens_worker ON api_tokens (worker_id)",
                ]
            }),
        Migration(
            version: 9, name: "tasks by owner (the image a device holds)",
            statements: { _ in ["CREATE INDEX tasks_owner ON tasks (owner, claimed_at)"] }),
        Migration(
            version: 10, name: "history: packages their definitions keep whole",
            statements: { _ in ["ALTER TABLE history ADD COLUMN keep_whole INTEGER"] }),
        Migration(
            version: 11, name: "task attempts: who held each attempt of a task",
            statements: { _ in
                [
                    """
                    CREATE TABLE task_attempts (
                        task_id TEXT NOT NULL, attempt INTEGER NOT NULL, owner TEXT NOT NULL, claimed_at BIGINT NOT NULL,
                        PRIMARY KEY (task_id, attempt))
                    """,
                    // The attempts of tasks from before: their last one, whose owner is known.
                    """
                    INSERT INTO task_attempts (task_id, attempt, owner, claimed_at)
                    SELECT id, attempts, owner, COALESCE(claimed_at, enqueued_at) FROM tasks WHERE owner IS NOT NULL AND attempts > 0
                    """,
                ]
            }),
        Migration(version: 12, name: "case results, their states and the attempts they ran in", statements: caseResultsSchema),
        Migration(version: 13, name: "device health, and the testruns that are health checks", statements: { _ in healthSchema }),
        Migration(
            version: 14, name: "mail: each testrun's e-mail to its notify list, sent once",
            statements: { _ in
                [
                    """
                    CREATE TABLE mail_deliveries (
                        testrun_id TEXT PRIMARY KEY,
                        event_id TEXT NOT NULL,
                        recipients TEXT NOT NULL,
                        state TEXT NOT NULL,
                        attempts INTEGER NOT NULL,
                        next_at BIGINT NOT NULL,
                        owner TEXT,
                        lease_until BIGINT,
                        last_error TEXT,
                        created_at BIGINT NOT NULL,
                        updated_at BIGINT NOT NULL
                    )
                    """,
                    "CREATE INDEX mail_deliveries_due ON mail_deliveries (state, next_at)",
                ]
            }),
        Migration(
            version: 15, name: "monitor: statistics rollups, and the testruns as the monitor knows them from events",
            statements: { _ in
                [
                    """
                    CREATE TABLE rollup_counts (
                        device_group TEXT NOT NULL, worker TEXT NOT NULL, bucket BIGINT NOT NULL, span INTEGER NOT NULL,
                        name TEXT NOT NULL, value BIGINT NOT NULL,
                        PRIMARY KEY (device_group, worker, bucket, span, name))
                    """,
                    "CREATE INDEX rollup_counts_span ON rollup_counts (span, bucket)",
                    """
                    CREATE TABLE rollup_histograms (
                        device_group TEXT NOT NULL, worker TEXT NOT NULL, phase TEXT NOT NULL, bucket BIGINT NOT NULL,
                        span INTEGER NOT NULL, slot INTEGER NOT NULL, count BIGINT NOT NULL,
                        PRIMARY KEY (device_group, worker, phase, bucket, span, slot))
                    """,
                    "CREATE INDEX rollup_histograms_span ON rollup_histograms (span, bucket)",
                    """
                    CREATE TABLE rollup_errors (
                        signature TEXT NOT NULL, bucket BIGINT NOT NULL, span INTEGER NOT NULL, device_group TEXT NOT NULL,
                        worker TEXT NOT NULL, image TEXT NOT NULL, category TEXT NOT NULL, count BIGINT NOT NULL,
                        first_seen BIGINT NOT NULL, last_seen BIGINT NOT NULL,
                        PRIMARY KEY (signature, bucket, span, device_group, worker, image))
                    """,
                    "CREATE INDEX rollup_errors_time ON rollup_errors (bucket, span)",
                    "CREATE INDEX rollup_errors_span ON rollup_errors (span, bucket)",
                    """
                    CREATE TABLE error_examples (
                        signature TEXT PRIMARY KEY, category TEXT NOT NULL, message TEXT NOT NULL, seen_at BIGINT NOT NULL)
                    """,
                    """
                    CREATE TABLE monitor_testruns (
                        id TEXT PRIMARY KEY, device_group TEXT, image TEXT, state TEXT NOT NULL, verdict TEXT,
                        health_check INTEGER NOT NULL DEFAULT 0, requested_at BIGINT NOT NULL, ended_at BIGINT)
                    """,
                    "CREATE INDEX monitor_testruns_state ON monitor_testruns (state, device_group)",
                    // The testruns from before, as the monitor knew them
                    // through their events: read once, here.
                    """
                    INSERT INTO monitor_testruns (id, device_group, state, verdict, requested_at, ended_at)
                    SELECT id, device_group, state, verdict, created_at, finished_at FROM testruns
                    """,
                    "CREATE TABLE rollup_state (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
                ]
            }),
    ]

    /// Applies every migration the database has not had, in order, each in
    /// its own transaction. Returns the versions applied.
    @discardableResult
    public static func migrate(_ database: Database) async throws -> [Int] {
        try await database.withConnection { db in
            try await db.raw(
                "CREATE TABLE IF NOT EXISTS ots_schema_versions (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)"
            ).run()
        }
        var applied: [Int] = []
        for migration in all {
            let done = try await database.transaction { db in
                if database.dialect == .postgres {
                    // One migrator at a time across processes.
                    try await db.raw("SELECT pg_advisory_xact_lock(7301)").run()
                }
                let existing = try await db.raw(
                    "SELECT version FROM ots_schema_versions WHERE version = \(bind: migration.version)"
                ).all()
                if !existing.isEmpty { return false }
                for statement in migration.statements(database.dialect) {
                    try await db.raw(SQLQueryString(statement)).run()
                }
                try await db.raw(
                    "INSERT INTO ots_schema_versions (version, name, applied_at) VALUES (\(bind: migration.version), \(bind: migration.name), \(bind: Clock.millis()))"
                ).run()
                return true
            }
            if done {
                database.logger.info("applied migration \(migration.version): \(migration.name)")
                applied.append(migration.version)
            }
        }
        return applied
    }

    /// The schema version of the database (0 when empty).
    public static func currentVersion(_ database: Database) async throws -> Int {
        try await database.withConnection { db in
            let exists: Bool
            switch database.dialect {
            case .sqlite:
                exists = try await !db.raw("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'ots_schema_versions'").all()
                    .isEmpty
            case .postgres:
                exists = try await !db.raw(
                    "SELECT tablename FROM pg_tables WHERE tablename = 'ots_schema_versions' AND schemaname = current_schema()"
                ).all().isEmpty
            }
            guard exists else { return 0 }
            let row = try await db.raw("SELECT MAX(version) AS version FROM ots_schema_versions").first()
            return try row?.decode(column: "version", as: Int?.self) ?? 0
        }
    }

    /// Throws when the database holds a schema newer than this build knows.
    public static func checkNotNewer(_ database: Database) async throws {
        let version = try await currentVersion(database)
        if version > latestVersion {
            throw StoreError(
                .schemaTooNew,
                "the database \(database.url) has schema version \(version), newer than this OTS knows (\(latestVersion)); upgrade OTS before using this database"
            )
        }
    }

    static func initialSchema(_ dialect: Dialect) -> [String] {
        let serial = dialect == .sqlite ? "INTEGER PRIMARY KEY AUTOINCREMENT" : "BIGSERIAL PRIMARY KEY"
        return [
            """
            CREATE TABLE testruns (
                id TEXT PRIMARY KEY,
                request TEXT NOT NULL,
                device_group TEXT NOT NULL,
                state TEXT NOT NULL,
                verdict TEXT,
                error_category TEXT,
                error_message TEXT,
                priority INTEGER NOT NULL DEFAULT 0,
                created_at BIGINT NOT NULL,
                started_at BIGINT,
                finished_at BIGINT,
                updated_at BIGINT NOT NULL
            )
            """,
            "CREATE INDEX testruns_state ON testruns (state, created_at)",
            """
            CREATE TABLE tasks (
                id TEXT PRIMARY KEY,
                testrun_id TEXT NOT NULL REFERENCES testruns (id),
                sequence INTEGER NOT NULL,
                routing_key TEXT NOT NULL,
                work TEXT NOT NULL,
                state TEXT NOT NULL,
                priority INTEGER NOT NULL DEFAULT 0,
                attempts INTEGER NOT NULL DEFAULT 0,
                owner TEXT,
                lease_expires_at BIGINT,
                enqueued_at BIGINT NOT NULL,
                claimed_at BIGINT,
                finished_at BIGINT,
                verdict TEXT,
                error_category TEXT,
                error_message TEXT
            )
            """,
            "CREATE INDEX tasks_queue ON tasks (state, routing_key, priority, enqueued_at)",
            "CREATE INDEX tasks_testrun ON tasks (testrun_id, sequence)",
            "CREATE INDEX tasks_lease ON tasks (state, lease_expires_at)",
            """
            CREATE TABLE workers (
                id TEXT PRIMARY KEY,
                host TEXT NOT NULL,
                instance_name TEXT NOT NULL,
                version TEXT NOT NULL,
                device_group TEXT NOT NULL,
                device_name TEXT,
                device_id TEXT,
                state TEXT NOT NULL,
                last_heartbeat BIGINT NOT NULL,
                registered_at BIGINT NOT NULL
            )
            """,
            """
            CREATE TABLE results (
                task_id TEXT NOT NULL REFERENCES tasks (id),
                package TEXT NOT NULL,
                results_xml TEXT NOT NULL,
                cases TEXT NOT NULL,
                files TEXT NOT NULL,
                created_at BIGINT NOT NULL,
                PRIMARY KEY (task_id, package)
            )
            """,
            """
            CREATE TABLE events (
                id TEXT PRIMARY KEY,
                type TEXT NOT NULL,
                emitted_at BIGINT NOT NULL,
                received_at BIGINT NOT NULL,
                testrun_id TEXT,
                task_id TEXT,
                worker TEXT,
                signature TEXT,
                payload TEXT NOT NULL
            )
            """,
            "CREATE INDEX events_time ON events (received_at)",
            "CREATE INDEX events_testrun ON events (testrun_id, received_at)",
            "CREATE INDEX events_task ON events (task_id, received_at)",
            "CREATE INDEX events_worker ON events (worker, received_at)",
            "CREATE INDEX events_type ON events (type, received_at)",
            "CREATE INDEX events_signature ON events (signature, received_at)",
            """
            CREATE TABLE history (
                id \(serial),
                package TEXT NOT NULL,
                set_name TEXT,
                device_group TEXT NOT NULL,
                duration_ms BIGINT NOT NULL,
                verdict TEXT NOT NULL,
                testrun_id TEXT NOT NULL,
                finished_at BIGINT NOT NULL
            )
            """,
            "CREATE INDEX history_lookup ON history (device_group, package, set_name, finished_at)",
            """
            CREATE TABLE monitor_queue (
                seq \(serial),
                event_id TEXT NOT NULL,
                appended_at BIGINT NOT NULL,
                payload TEXT NOT NULL
            )
            """,
            "CREATE INDEX monitor_queue_time ON monitor_queue (appended_at)",
            """
            CREATE TABLE queue_cursors (
                consumer TEXT PRIMARY KEY,
                position BIGINT NOT NULL,
                updated_at BIGINT NOT NULL
            )
            """,
            """
            CREATE TABLE queue_counters (
                name TEXT PRIMARY KEY,
                value BIGINT NOT NULL
            )
            """,
        ]
    }
}

extension Migrations {
    static func farmSchema(_ dialect: Dialect) -> [String] {
        let blob = dialect == .sqlite ? "BLOB" : "BYTEA"
        return [
            "ALTER TABLE tasks ADD COLUMN phase TEXT",
            "ALTER TABLE tasks ADD COLUMN started_at BIGINT",
            "ALTER TABLE tasks ADD COLUMN packages_done INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE tasks ADD COLUMN flash_tries INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE tasks ADD COLUMN boot_tries INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE testruns ADD COLUMN deadline BIGINT",
            "ALTER TABLE testruns ADD COLUMN requestor TEXT",
            "CREATE INDEX testruns_deadline ON testruns (state, deadline)",
            "ALTER TABLE workers ADD COLUMN current_task TEXT",
            """
            CREATE TABLE files (
                task_id TEXT NOT NULL REFERENCES tasks (id),
                package TEXT NOT NULL,
                name TEXT NOT NULL,
                content \(blob) NOT NULL,
                size BIGINT NOT NULL,
                created_at BIGINT NOT NULL,
                PRIMARY KEY (task_id, package, name)
            )
            """,
            """
            CREATE TABLE received_events (
                id TEXT PRIMARY KEY,
                received_at BIGINT NOT NULL
            )
            """,
            "CREATE INDEX received_events_time ON received_events (received_at)",
        ]
    }
}

/// Times in the store are milliseconds since 1970, UTC.
package enum Clock {
    package static func millis(_ date: Date = Date()) -> Int64 {
        Int64(saturating: date.timeIntervalSince1970 * 1000)
    }

    package static func date(_ millis: Int64) -> Date {
        Date(timeIntervalSince1970: Double(millis) / 1000)
    }
}
