extension Migrations {
    /// The monitor's case results (one row per case of every uploaded
    /// results file, and per flash and boot of every attempt), the state of
    /// each case on each device group (its newest runs, whether it is
    /// flaky), the attempts the monitor heard claimed, and the fetched
    /// files each package had when its results came.
    static func caseResultsSchema(_ dialect: Dialect) -> [String] {
        let serial = dialect == .sqlite ? "INTEGER PRIMARY KEY AUTOINCREMENT" : "BIGSERIAL PRIMARY KEY"
        return [
            """
            CREATE TABLE case_results (
                id \(serial),
                testrun_id TEXT NOT NULL,
                task_id TEXT NOT NULL,
                attempt INTEGER NOT NULL,
                upload_id TEXT NOT NULL,
                package TEXT NOT NULL,
                set_name TEXT NOT NULL,
                case_name TEXT NOT NULL,
                ordinal INTEGER NOT NULL,
                result TEXT NOT NULL,
                significant INTEGER NOT NULL,
                duration_ms BIGINT,
                failure_info TEXT,
                worker TEXT NOT NULL,
                device_group TEXT NOT NULL,
                device_name TEXT,
                device_id TEXT,
                image TEXT,
                image_checksum TEXT,
                sw_product TEXT,
                recorded_at BIGINT NOT NULL,
                steps TEXT NOT NULL,
                cause TEXT,
                cause_detail TEXT
            )
            """,
            "CREATE INDEX case_results_testrun ON case_results (testrun_id, package, ordinal)",
            "CREATE INDEX case_results_task ON case_results (task_id, package)",
            "CREATE INDEX case_results_case ON case_results (package, set_name, case_name, recorded_at)",
            "CREATE INDEX case_results_package ON case_results (package, recorded_at)",
            "CREATE INDEX case_results_worker ON case_results (worker, recorded_at)",
            "CREATE INDEX case_results_group ON case_results (device_group, recorded_at)",
            "CREATE INDEX case_results_result ON case_results (result, recorded_at)",
            """
            CREATE TABLE case_states (
                case_key TEXT NOT NULL,
                device_group TEXT NOT NULL,
                package TEXT NOT NULL,
                set_name TEXT NOT NULL,
                case_name TEXT NOT NULL,
                runs TEXT NOT NULL,
                flaky INTEGER NOT NULL,
                flaky_since BIGINT,
                flaky_detail TEXT,
                updated_at BIGINT NOT NULL,
                PRIMARY KEY (case_key, device_group)
            )
            """,
            "CREATE INDEX case_states_flaky ON case_states (flaky, device_group)",
            """
            CREATE TABLE case_attempts (
                task_id TEXT NOT NULL,
                attempt INTEGER NOT NULL,
                testrun_id TEXT NOT NULL,
                worker TEXT NOT NULL,
                device_group TEXT NOT NULL,
                device_name TEXT,
                device_id TEXT,
                image TEXT,
                image_checksum TEXT,
                sw_product TEXT,
                flash TEXT,
                boot TEXT,
                claimed_at BIGINT NOT NULL,
                PRIMARY KEY (task_id, attempt)
            )
            """,
            """
            CREATE TABLE case_files (
                task_id TEXT NOT NULL,
                package TEXT NOT NULL,
                testrun_id TEXT NOT NULL,
                files TEXT NOT NULL,
                PRIMARY KEY (task_id, package)
            )
            """,
            "CREATE INDEX case_files_testrun ON case_files (testrun_id)",
        ]
    }
}
