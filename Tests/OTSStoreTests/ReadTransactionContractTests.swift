import Foundation
import OTSCore
import OTSTestSupport
import SQLKit
import Testing

@testable import OTSStore

/// Something that happens once, which another task waits for, for a time.
final class Signal: Sendable {
    private let stream: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    init() {
        (stream, continuation) = AsyncStream.makeStream(of: Void.self)
    }

    func fire() {
        continuation.yield()
        continuation.finish()
    }

    /// Waits for `fire`; throws when it has not come within `limit`.
    func wait(_ what: String, within limit: Duration = .seconds(30)) async throws {
        struct TimedOut: Error, CustomStringConvertible {
            var description: String
        }
        let stream = self.stream
        try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask {
                for await _ in stream { return true }
                return true
            }
            group.addTask {
                try await Task.sleep(for: limit)
                return false
            }
            let fired = try await group.next() ?? false
            group.cancelAll()
            guard fired else { throw TimedOut(description: "\(what) did not happen within \(limit)") }
        }
    }
}

/// Read transactions: one snapshot, never waiting for the writer, unable to
/// write. Run on every engine.
@Suite(.timeLimit(.minutes(2))) struct ReadTransactionContractTests {
    @Test(arguments: Engine.available)
    func aReadRunsWhileAWriteTransactionIsOpenAndSeesWhatWasCommittedBefore(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            try await store.transaction { tx in
                try await tx.insertTestrun(id: "before", request: "{}", deviceGroup: "phones", state: .queued)
            }
            let writing = Signal()
            let readDone = Signal()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await store.transaction { tx in
                        try await tx.insertTestrun(id: "during", request: "{}", deviceGroup: "phones", state: .queued)
                        writing.fire()
                        // Held open until the read has finished: a read
                        // that waited for this writer would never finish.
                        try await readDone.wait("the read beside the open write transaction")
                    }
                }
                group.addTask {
                    try await writing.wait("the write transaction")
                    let seen = try await store.read { tx in
                        (try await tx.testrun(id: "before")?.id, try await tx.testrun(id: "during")?.id)
                    }
                    #expect(seen.0 == "before")
                    #expect(seen.1 == nil, "a read sees only what was committed")
                    readDone.fire()
                }
                try await group.waitForAll()
            }
            let after = try await store.read { tx in try await tx.testrun(id: "during")?.id }
            #expect(after == "during")
        }
    }

    @Test(arguments: Engine.available)
    func aReadSeesOneSnapshotThroughout(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            try await store.transaction { tx in
                try await tx.insertTestrun(id: "first", request: "{}", deviceGroup: "phones", state: .queued)
            }
            let counts = try await store.read { tx -> (Int, Int) in
                let before = try await tx.testruns(TestrunFilter(limit: 100)).count
                // Committed by another transaction while this read is open.
                try await store.transaction { writer in
                    try await writer.insertTestrun(id: "second", request: "{}", deviceGroup: "phones", state: .queued)
                }
                return (before, try await tx.testruns(TestrunFilter(limit: 100)).count)
            }
            #expect(counts == (1, 1))
            #expect(try await store.read { tx in try await tx.testruns(TestrunFilter(limit: 100)).count } == 2)
        }
    }

    @Test(arguments: Engine.available)
    func aWriteInAReadTransactionFailsAndChangesNothing(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            let error = await #expect(throws: (any Error).self) {
                try await store.read { tx in
                    try await tx.insertTestrun(id: "sneaked", request: "{}", deviceGroup: "phones", state: .queued)
                }
            }
            let refusal = String(describing: try #require(error))
            switch engine {
            case .sqlite: #expect(refusal.contains("readonly"), "\(refusal)")
            case .postgres: #expect(refusal.contains("SQLSTATE 25006"), "\(refusal)")
            }
            // Neither that read nor the connection it ran on wrote anything,
            // and the store takes writes and reads as before.
            for _ in 0..<8 {
                #expect(try await store.read { tx in try await tx.testrun(id: "sneaked") } == nil)
            }
            try await store.transaction { tx in
                try await tx.insertTestrun(id: "written", request: "{}", deviceGroup: "phones", state: .queued)
            }
            #expect(try await store.read { tx in try await tx.testrun(id: "written")?.id } == "written")
        }
    }

    @Test func onSQLiteAWriterCancelledWhileItWaitsForItsTurnRunsNothingAndTheLockIsNotLost() async throws {
        try await withStore(.sqlite) { store, _ in
            let writing = Signal()
            let release = Signal()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await store.transaction { tx in
                        try await tx.insertTestrun(id: "holder", request: "{}", deviceGroup: "phones", state: .queued)
                        writing.fire()
                        try await release.wait("the cancelled writer")
                    }
                }
                try await writing.wait("the first write transaction")
                let waiter = Task {
                    try await store.transaction { tx in
                        try await tx.insertTestrun(id: "cancelled", request: "{}", deviceGroup: "phones", state: .queued)
                    }
                }
                try await until("the second writer waits for its turn") { store.database.writersWaiting == 1 }
                waiter.cancel()
                await #expect(throws: CancellationError.self) { try await waiter.value }
                #expect(store.database.writersWaiting == 0)
                release.fire()
                try await group.waitForAll()
            }
            // The lock was handed back: the next writer runs.
            try await store.transaction { tx in
                try await tx.insertTestrun(id: "next", request: "{}", deviceGroup: "phones", state: .queued)
            }
            let ids = try await store.read { tx in try await tx.testruns(TestrunFilter(limit: 100)).map(\.id) }
            #expect(Set(ids) == ["holder", "next"])
        }
    }

    @Test func onSQLiteTheWriteAheadLogIsCheckpointedBesideTheWritersAfterEnoughCommits() async throws {
        try await withStore(.sqlite) { store, _ in
            let before = store.database.checkpointsDone
            // The migrations committed some already.
            let pending = store.database.commitsSinceCheckpoint
            for number in 0..<(Database.checkpointEvery - pending - 1) {
                try await store.transaction { tx in
                    try await tx.insertTestrun(id: "t\(number)", request: "{}", deviceGroup: "phones", state: .queued)
                }
            }
            #expect(store.database.checkpointsDone == before, "no checkpoint before enough commits")
            try await store.transaction { tx in
                try await tx.insertTestrun(id: "last", request: "{}", deviceGroup: "phones", state: .queued)
            }
            try await until("a checkpoint after \(Database.checkpointEvery) commits") { store.database.checkpointsDone == before + 1 }
            #expect(store.database.commitsSinceCheckpoint == 0)
            #expect(
                try await store.read { tx in try await tx.testruns(TestrunFilter(limit: 1000)).count } == Database.checkpointEvery - pending
            )
        }
    }
}
