import Foundation
import OTSCore
import OTSTestSupport
import Testing

@testable import OTSStore

/// Testruns' e-mails: queued once, claimed by one replica at a time, tried
/// again when due, and ended as sent or dead, the same on every engine.
@Suite struct MailContractTests {
    @Test(arguments: Engine.available)
    func aMailIsQueuedOnceAndClaimedByOneReplica(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            let now = Date(timeIntervalSince1970: 1_800_000_000)
            #expect(
                try await store.transaction {
                    try await $0.queueMail(testrunID: "t1", eventID: "e1", recipients: ["a@x.y", "b@x.y"], at: now)
                })
            #expect(
                try await !store.transaction { try await $0.queueMail(testrunID: "t1", eventID: "e2", recipients: ["c@x.y"], at: now) },
                "the same testrun's end seen again queues nothing")

            let first = try await store.transaction { try await $0.claimMail(owner: "one", lease: .seconds(60), at: now) }
            #expect(first?.testrunID == "t1")
            #expect(first?.recipients == ["a@x.y", "b@x.y"])
            #expect(first?.eventID == "e1")
            #expect(
                try await store.transaction { try await $0.claimMail(owner: "two", lease: .seconds(60), at: now) } == nil, "held by one")

            // A failed try: due again later, for whoever comes.
            let retry = now.addingTimeInterval(5)
            #expect(
                try await store.transaction {
                    try await $0.recordMailTry(testrunID: "t1", owner: "one", sent: false, error: "refused", retryAt: retry, at: now)
                })
            #expect(try await store.transaction { try await $0.nextMailDue() } == retry)
            #expect(
                try await store.transaction { try await $0.claimMail(owner: "two", lease: .seconds(60), at: now) } == nil, "not due yet")
            let again = try await store.transaction { try await $0.claimMail(owner: "two", lease: .seconds(60), at: retry) }
            #expect(again?.attempts == 1)
            #expect(again?.lastError == "refused")
            #expect(
                try await !store.transaction {
                    try await $0.recordMailTry(testrunID: "t1", owner: "one", sent: true, retryAt: nil, at: retry)
                }, "a replica that lost the claim records nothing")
            #expect(
                try await store.transaction {
                    try await $0.recordMailTry(testrunID: "t1", owner: "two", sent: true, retryAt: nil, at: retry)
                })
            let sent = try await store.read { try await $0.mailDelivery(testrunID: "t1") }
            #expect(sent?.state == .sent)
            #expect(sent?.attempts == 2)
            #expect(
                try await store.transaction {
                    try await $0.claimMail(owner: "one", lease: .seconds(60), at: retry.addingTimeInterval(3600))
                } == nil, "sent is done")
            #expect(try await store.read { try await $0.nextMailDue() } == nil)
            #expect(try await store.read { try await $0.mailCounts() } == [.sent: 1])
        }
    }

    @Test(arguments: Engine.available)
    func aClaimWhoseReplicaVanishedIsTakenOverAndAMailCanDie(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            let now = Date(timeIntervalSince1970: 1_800_000_000)
            _ = try await store.transaction { try await $0.queueMail(testrunID: "t2", eventID: "e", recipients: ["a@x.y"], at: now) }
            _ = try await store.transaction { try await $0.claimMail(owner: "gone", lease: .seconds(30), at: now) }
            #expect(
                try await store.transaction { try await $0.claimMail(owner: "other", lease: .seconds(30), at: now.addingTimeInterval(10)) }
                    == nil)
            let taken = try await store.transaction {
                try await $0.claimMail(owner: "other", lease: .seconds(30), at: now.addingTimeInterval(31))
            }
            #expect(taken?.testrunID == "t2", "its lease ran out")
            #expect(
                try await store.transaction {
                    try await $0.recordMailTry(
                        testrunID: "t2", owner: "other", sent: false, error: "550 no such user", retryAt: nil, at: now)
                })
            let dead = try await store.read { try await $0.mailDelivery(testrunID: "t2") }
            #expect(dead?.state == .dead)
            #expect(dead?.lastError == "550 no such user")
            #expect(try await store.read { try await $0.mailCounts() } == [.dead: 1])
        }
    }
}
