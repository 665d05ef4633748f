import Foundation
import OTSCore
import OTSTestSupport
import SQLKit
import Testing

@testable import OTSStore

/// SQLite's write transactions run on a thread of their database's own.
/// Two stores on one file in one process (`ots demo` opens the server's and
/// the monitor's so) must not share it: a writer of one that waits for
/// SQLite's lock would block the thread the other needs to commit.
@Suite(.timeLimit(.minutes(2))) struct WriterThreadTests {
    @Test func twoStoresOnOneFileTakeTurnsWithoutWaitingForEachOthersThread() async throws {
        let folder = FileManager.default.temporaryDirectory.path + "/ots-writer-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let url = DatabaseURL.sqlite(path: folder + "/ots.sqlite")
        let first = try await Store.open(url, logger: testLogger)
        let second = try await Store.open(url, logger: testLogger)
        let firstWriting = Signal()
        let secondAsking = Signal()
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await first.transaction { tx in
                        try await tx.insertTestrun(id: "first-0", request: "{}", deviceGroup: "phones", state: .queued)
                        firstWriting.fire()
                        try await secondAsking.wait("the second store's write transaction")
                        // The second store's BEGIN IMMEDIATE now waits for
                        // SQLite's lock, which this transaction holds until
                        // these statements and its commit have run.
                        for number in 1...20 {
                            try await tx.insertTestrun(id: "first-\(number)", request: "{}", deviceGroup: "phones", state: .queued)
                        }
                    }
                }
                group.addTask {
                    try await firstWriting.wait("the first store's write transaction")
                    secondAsking.fire()
                    try await second.transaction { tx in
                        try await tx.insertTestrun(id: "second", request: "{}", deviceGroup: "phones", state: .queued)
                    }
                }
                try await group.waitForAll()
            }
            let seen = try await second.read { tx in
                try await tx.testruns(TestrunFilter(limit: 100)).map(\.id)
            }
            #expect(Set(seen) == Set((0...20).map { "first-\($0)" } + ["second"]))
        } catch {
            await first.close()
            await second.close()
            throw error
        }
        await first.close()
        await second.close()
    }

    @Test func aReadOutsideATransactionCannotWrite() async throws {
        try await withStore(.sqlite) { store, _ in
            await #expect(throws: (any Error).self) {
                try await store.database.withConnection(reading: true) { db in
                    try await db.raw("CREATE TABLE nothing (id INTEGER)").run()
                }
            }
            let tables = try await store.database.withConnection(reading: true) { db in
                try await db.raw("SELECT name FROM sqlite_master WHERE name = 'nothing'").all()
            }
            #expect(tables.isEmpty)
        }
    }
}
