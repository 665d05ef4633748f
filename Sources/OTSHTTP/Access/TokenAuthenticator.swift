import Foundation
import Hummingbird
import OTSCore
import OTSStore
import Synchronization

/// Finds the principal of a token in the store. Answers are kept for a few
/// seconds, so a busy farm does not read the store on every request; a
/// revoked token stops working within `cacheSeconds`.
public final class TokenAuthenticator: Sendable {
    let store: Store
    let cacheSeconds: Double
    private let cache = Mutex<[String: (principal: Principal?, until: Date)]>([:])

    public init(store: Store, cacheSeconds: Double = 5) {
        self.store = store
        self.cacheSeconds = cacheSeconds
    }

    /// The principal of a token's text; throws 401 when there is none.
    public func principal(token text: String, at now: Date = Date()) async throws -> Principal {
        if let hit = cache.withLock({ $0[text] }), hit.until > now {
            guard let principal = hit.principal else { throw Self.refused }
            return principal
        }
        var principal: Principal?
        if let (id, secret) = APIToken.parse(text), let record = try await store.token(id: id),
            record.revokedAt == nil, APIToken.matches(secret, hash: record.hash)
        {
            principal = Principal(tokenID: record.id, name: record.name, scope: record.scope, workerID: record.workerID)
        }
        cache.withLock { cache in
            if cache.count > 10_000 { cache.removeAll() }
            cache[text] = (principal, now.addingTimeInterval(cacheSeconds))
        }
        guard let principal else { throw Self.refused }
        return principal
    }

    /// Forgets what it knows of a token (after a revocation here).
    public func forget(tokenID: String) {
        cache.withLock { cache in cache = cache.filter { $0.value.principal?.tokenID != tokenID } }
    }

    static let refused = APIError(.unauthorized, "authorization: unknown or revoked token")
}
