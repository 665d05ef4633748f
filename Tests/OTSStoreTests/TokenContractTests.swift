import Foundation
import OTSCore
import OTSTestSupport
import Testing

@testable import OTSStore

/// API tokens: kept, found, listed and revoked the same on every engine.
@Suite struct TokenContractTests {
    @Test(arguments: Engine.available)
    func tokensAreKeptListedAndRevoked(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            let made = Date(timeIntervalSince1970: 1_800_000_000)
            let admin = TokenRecord(
                id: "aaaaaaaaaaaa", name: "alice", scope: .admin, hash: String(repeating: "1", count: 64), createdAt: made)
            let first = TokenRecord(
                id: "bbbbbbbbbbbb", name: "worker rack1/n9", scope: .worker, workerID: "rack1/n9", hash: String(repeating: "2", count: 64),
                createdAt: made.addingTimeInterval(1))
            let second = TokenRecord(
                id: "cccccccccccc", name: "worker rack1/n9", scope: .worker, workerID: "rack1/n9", hash: String(repeating: "3", count: 64),
                createdAt: made.addingTimeInterval(2))
            try await store.transaction { tx in
                for token in [admin, first, second] { try await tx.insertToken(token) }
            }
            #expect(try await store.token(id: "aaaaaaaaaaaa") == admin)
            #expect(try await store.token(id: "nothere00000") == nil)
            #expect(try await store.transaction { try await $0.tokens() }.map(\.id) == ["aaaaaaaaaaaa", "bbbbbbbbbbbb", "cccccccccccc"])

            // Enrolling again revokes an instance's earlier tokens, and only its.
            let revoked = try await store.transaction { tx in
                try await tx.revokeWorkerTokens(workerID: "rack1/n9", at: made.addingTimeInterval(10))
            }
            #expect(revoked == 2)
            #expect(try await store.transaction { try await $0.tokens() }.map(\.id) == ["aaaaaaaaaaaa"])
            let all = try await store.transaction { try await $0.tokens(includeRevoked: true) }
            #expect(all.count == 3)
            #expect(all.first { $0.id == "bbbbbbbbbbbb" }?.revokedAt == made.addingTimeInterval(10))

            #expect(try await store.transaction { try await $0.revokeToken(id: "aaaaaaaaaaaa", at: made.addingTimeInterval(20)) })
            #expect(try await !store.transaction { try await $0.revokeToken(id: "aaaaaaaaaaaa") }, "revoking twice says so")
            #expect(try await !store.transaction { try await $0.revokeToken(id: "nothere00000") })
            #expect(try await store.token(id: "aaaaaaaaaaaa")?.revokedAt == made.addingTimeInterval(20))
            #expect(try await store.transaction { try await $0.tokens() }.isEmpty)
        }
    }
}
