import Foundation
import OTSCore
import OTSTestSupport
import Synchronization
import Testing

@testable import OTSStore

@Suite(.timeLimit(.minutes(5))) struct MonitorQueueContractTests {
    func append(_ store: Store, _ ids: [String], at date: Date = Date()) async throws {
        try await store.transaction { tx in
            try await tx.append(ids.map { (id: $0, payload: #"{"id":"\#($0)"}"#) }, at: date)
        }
    }

    @Test(arguments: Engine.available)
    func consumersReadInOrderWithTheirOwnCursors(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            try await append(store, (1...5).map { "e\($0)" })
            var monitor: [String] = []
            try await store.consume(consumer: "monitor", limit: 3) { _, batch in monitor += batch.map(\.eventID) }
            #expect(monitor == ["e1", "e2", "e3"])
            var publisher: [String] = []
            try await store.consume(consumer: "publisher", limit: 10) { _, batch in publisher += batch.map(\.eventID) }
            #expect(publisher == ["e1", "e2", "e3", "e4", "e5"])
            try await store.consume(consumer: "monitor", limit: 10) { _, batch in monitor += batch.map(\.eventID) }
            #expect(monitor == ["e1", "e2", "e3", "e4", "e5"])
            #expect(try await store.consume(consumer: "monitor") { _, _ in Issue.record("nothing is left") } == 0)
            #expect(try await store.backlog(consumer: "monitor").count == 0)
        }
    }

    @Test(arguments: Engine.available)
    func aCursorSurvivesARestartAndAFailedBatchComesAgain(engine: Engine) async throws {
        try await withStore(engine) { store, url in
            try await append(store, ["a", "b", "c"])
            try await store.consume(consumer: "monitor", limit: 2) { _, _ in }
            struct Crash: Error {}
            await #expect(throws: Crash.self) {
                try await store.consume(consumer: "monitor") { _, _ in throw Crash() }
            }
            let reopened = try await Store.open(url, logger: testLogger)
            var seen: [String] = []
            try await reopened.consume(consumer: "monitor") { _, batch in seen += batch.map(\.eventID) }
            #expect(seen == ["c"])
            await reopened.close()
        }
    }

    @Test(arguments: Engine.available)
    func twoReplicasOfOneConsumerNeverShareAnEvent(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            let total = 300
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for chunk in stride(from: 0, to: total, by: 10) {
                        try await append(store, (chunk..<chunk + 10).map { "e\($0)" })
                    }
                }
                try await group.waitForAll()
            }
            let seen = Collected()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<3 {
                    group.addTask {
                        while try await store.consume(
                            consumer: "monitor", limit: 7,
                            { _, batch in
                                seen.add(batch.map(\.eventID))
                            }) > 0
                        {}
                    }
                }
                try await group.waitForAll()
            }
            let all = seen.all
            #expect(all.count == total)
            #expect(Set(all).count == total)
        }
    }

    /// Replicas read a batch before their write transactions, so two can
    /// read the same one: the later finds it taken and reads, and
    /// prepares, the next in its transaction.
    @Test(arguments: Engine.available)
    func replicasThatReadTheSameBatchEachHandleTheirOwnAsPrepared(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            let total = 300
            try await append(store, (0..<total).map { "e\($0)" })
            let seen = Collected()
            let mismatched = Collected()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<3 {
                    group.addTask {
                        while try await store.consume(
                            consumer: "monitor", limit: 7, prepare: { $0.map(\.eventID) },
                            { _, batch, prepared in
                                seen.add(batch.map(\.eventID))
                                if prepared != batch.map(\.eventID) { mismatched.add(prepared) }
                            }) > 0
                        {}
                    }
                }
                try await group.waitForAll()
            }
            #expect(seen.all.count == total)
            #expect(Set(seen.all).count == total)
            #expect(mismatched.all.isEmpty)
        }
    }

    /// The check that a batch read before the transaction is still the
    /// next one: messages removed since make it fail, messages appended
    /// after it do not.
    @Test(arguments: Engine.available)
    func aBatchReadEarlierIsStillQueuedUntilRetentionRemovesPartOfIt(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            try await append(store, ["a", "b", "c", "d"])
            let read = try await store.read { tx in try await tx.messages(after: 0, limit: 3) }
            #expect(read.map(\.eventID) == ["a", "b", "c"])
            try await append(store, ["e"])
            #expect(try await store.read { tx in try await tx.stillQueued(read, after: 0) })
            // Keeps the newest two: a, b and c go unread.
            _ = try await store.applyRetention(maxAge: .seconds(3600), maxMessages: 2)
            #expect(!(try await store.read { tx in try await tx.stillQueued(read, after: 0) }))
        }
    }

    @Test(arguments: Engine.available)
    func concurrentAppendersAndAConsumerLoseNothing(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            let seen = Collected()
            let producers = 4
            let perProducer = 50
            try await withThrowingTaskGroup(of: Void.self) { group in
                for producer in 0..<producers {
                    group.addTask {
                        for n in 0..<perProducer { try await append(store, ["p\(producer)-\(n)"]) }
                    }
                }
                group.addTask {
                    try await eventually("every event consumed", every: .milliseconds(10)) {
                        try await store.consume(consumer: "monitor", limit: 20) { _, batch in
                            seen.add(batch.map(\.eventID))
                        }
                        return seen.all.count >= producers * perProducer
                    }
                }
                try await group.waitForAll()
            }
            let all = seen.all
            #expect(all.count == producers * perProducer)
            #expect(Set(all).count == producers * perProducer)
        }
    }

    @Test(arguments: Engine.available)
    func retentionCountsWhatItDropsAndSaysSo(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            let old = Date().addingTimeInterval(-7200)
            try await append(store, (1...4).map { "old\($0)" }, at: old)
            try await append(store, (1...6).map { "new\($0)" })
            // The monitor has read two of the old ones.
            try await store.consume(consumer: "monitor", limit: 2) { _, _ in }
            let report = try await store.applyRetention(maxAge: .seconds(3600), maxMessages: 5)
            // Two were read (compacted), two old unread ones are dropped for
            // age, and one new one for size (6 new > 5).
            #expect(report.compacted == 2)
            #expect(report.dropped == 3)
            #expect(try await store.counter("dropped") == 3)
            var rest: [String] = []
            var payloads: [String] = []
            try await store.consume(consumer: "monitor") { _, batch in
                rest += batch.map(\.eventID)
                payloads += batch.map(\.payload)
            }
            #expect(Array(rest.prefix(5)) == ["new2", "new3", "new4", "new5", "new6"])
            #expect(rest.count == 6)
            let notice = try JSONCoding.decoder().decode(MonitorEvent.self, from: Data(try #require(payloads.last).utf8))
            #expect(notice.type == .queueDropped)
            #expect(notice.details?["dropped"] == "3")
            #expect(notice.id == rest.last)
            // Nothing more to drop.
            #expect(try await store.applyRetention(maxAge: .seconds(3600), maxMessages: 100).dropped == 0)
        }
    }
}

/// Event ids seen by concurrent consumers.
final class Collected: Sendable {
    private let ids = Mutex<[String]>([])

    func add(_ more: [String]) { ids.withLock { $0 += more } }
    var all: [String] { ids.withLock { $0 } }
}
