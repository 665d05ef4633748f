import Foundation
import Logging
import SQLKit
import Testing

@testable import OTSStore

/// `ots migrate` and several `ots` processes sharing one SQLite file.
@Suite(.timeLimit(.minutes(10))) struct StoreCommandTests {
    @Test func migrateAppliesOnceAndThenReportsUpToDate() async throws {
        let work = try Workspace()
        // The versions it knows (branches number theirs ahead of one another: there may be gaps).
        let all = Migrations.all.map { String($0.version) }.joined(separator: ", ")
        let first = try await OTSBinary.run(["migrate", "--database", "sqlite://\(work.file("db/ots.sqlite"))"], in: work.path)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout == "sqlite://\(work.file("db/ots.sqlite")): schema version 0 → \(Migrations.latestVersion) (applied \(all))\n")
        let second = try await OTSBinary.run(["migrate", "--database", "sqlite://\(work.file("db/ots.sqlite"))"], in: work.path)
        #expect(second.stdout == "sqlite://\(work.file("db/ots.sqlite")): schema version \(Migrations.latestVersion), up to date\n")
    }

    @Test func migrateRefusesANewerSchemaAndBadURLs() async throws {
        let work = try Workspace()
        let url = DatabaseURL.sqlite(path: work.file("ots.sqlite"))
        let store = try await Store.open(url, logger: Logger(label: "test"))
        try await store.transaction { tx in
            try await tx.db.raw("INSERT INTO ots_schema_versions (version, name, applied_at) VALUES (42, 'future', 0)").run()
        }
        await store.close()
        let newer = try await OTSBinary.run(["migrate", "--database", "sqlite://\(work.file("ots.sqlite"))"], in: work.path)
        #expect(newer.status == 1)
        #expect(newer.stderr.contains("has schema version 42, newer than this OTS knows"))
        let bad = try await OTSBinary.run(["migrate", "--database", "mysql://db/ots"], in: work.path)
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("--database: database URL 'mysql://db/ots' is neither sqlite:///path nor postgres://"))
    }

    @Test func severalProcessesShareOneSQLiteFileWithoutLockErrors() async throws {
        let work = try Workspace()
        let database = "sqlite://\(work.file("shared.sqlite"))"
        let migrated = try await OTSBinary.run(["migrate", "--database", database], in: work.path)
        #expect(migrated.status == 0)
        let processes = 4
        let tasksEach = 60
        let results = try await withThrowingTaskGroup(of: OTSBinary.Result.self) { group in
            for _ in 0..<processes {
                group.addTask {
                    try await OTSBinary.run(
                        [
                            "bench", "queue", "--database", database, "--tasks", "\(tasksEach)", "--workers", "3",
                            "--events", "300", "--routing-key", "shared", "--json",
                        ],
                        in: work.path
                    )
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        for result in results {
            #expect(result.status == 0, "\(result.stderr)")
            #expect(!result.stderr.contains("locked"))
        }
        let claimed = try results.map { result -> Int in
            let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
            return object?["tasks_claimed"] as? Int ?? -1
        }
        // Every task of every process was claimed once, by someone.
        #expect(claimed.reduce(0, +) == processes * tasksEach)
        let store = try await Store.open(try DatabaseURL(parsing: database), logger: Logger(label: "test"))
        let rows = try await store.database.withConnection { db in
            try await db.raw("SELECT state, attempts FROM tasks WHERE routing_key = 'shared'").all()
        }
        await store.close()
        #expect(rows.count == processes * tasksEach)
        #expect(
            try rows.allSatisfy {
                try $0.decode(column: "state", as: String.self) == "finished" && $0.decode(column: "attempts", as: Int.self) == 1
            })
    }
}
