import Foundation
import OTSCore
import SQLKit

/// An API token as the store keeps it: the hash of its secret, never the
/// secret.
public struct TokenRecord: Sendable, Hashable {
    public var id: String
    public var name: String
    public var scope: TokenScope
    public var workerID: String?
    /// SHA-256 of the secret, hex.
    public var hash: String
    public var createdAt: Date
    public var revokedAt: Date?

    public init(
        id: String, name: String, scope: TokenScope, workerID: String? = nil, hash: String, createdAt: Date = Date(), revokedAt: Date? = nil
    ) {
        self.id = id
        self.name = name
        self.scope = scope
        self.workerID = workerID
        self.hash = hash
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }

    public var info: TokenInfo {
        TokenInfo(id: id, name: name, scope: scope, workerID: workerID, createdAt: createdAt, revokedAt: revokedAt)
    }
}

extension StoreTransaction {
    public func insertToken(_ token: TokenRecord) async throws {
        try await db.raw(
            """
            INSERT INTO api_tokens (id, name, scope, worker_id, hash, created_at)
            VALUES (\(bind: token.id), \(bind: token.name), \(bind: token.scope.rawValue), \(bind: token.workerID), \(bind: token.hash),
                    \(bind: Clock.millis(token.createdAt)))
            """
        ).run()
    }

    /// Every token, oldest first; revoked ones only when asked.
    public func tokens(includeRevoked: Bool = false) async throws -> [TokenRecord] {
        let filter: SQLQueryString = includeRevoked ? "" : " WHERE revoked_at IS NULL"
        return try await db.raw("SELECT * FROM api_tokens\(filter) ORDER BY created_at, id").all().map(Self.tokenRecord)
    }

    /// Revokes a token; false when there is no such token or it was revoked
    /// already.
    public func revokeToken(id: String, at now: Date = Date()) async throws -> Bool {
        try await !db.raw(
            "UPDATE api_tokens SET revoked_at = \(bind: Clock.millis(now)) WHERE id = \(bind: id) AND revoked_at IS NULL RETURNING id"
        ).all().isEmpty
    }

    /// Revokes the tokens of a worker instance (it enrolls again and gets a
    /// new one); returns how many.
    @discardableResult
    public func revokeWorkerTokens(workerID: String, at now: Date = Date()) async throws -> Int {
        try await db.raw(
            """
            UPDATE api_tokens SET revoked_at = \(bind: Clock.millis(now))
            WHERE worker_id = \(bind: workerID) AND revoked_at IS NULL RETURNING id
            """
        ).all().count
    }

    static func tokenRecord(_ row: any SQLRow) throws -> TokenRecord {
        let text = try row.decode(column: "scope", as: String.self)
        guard let scope = TokenScope(rawValue: text) else {
            throw StoreError(.conflict, "api_tokens: unknown scope '\(text)'; this OTS is older than the database")
        }
        return TokenRecord(
            id: try row.decode(column: "id", as: String.self), name: try row.decode(column: "name", as: String.self),
            scope: scope, workerID: try row.decode(column: "worker_id", as: String?.self),
            hash: try row.decode(column: "hash", as: String.self), createdAt: Clock.date(try row.decode(column: "created_at", as: Int64.self)),
            revokedAt: try row.decode(column: "revoked_at", as: Int64?.self).map(Clock.date))
    }
}

extension Store {
    /// A token by id, read on a reader's connection outside a transaction
    /// (one statement needs none): every request that carries a token not
    /// seen lately asks, and it never waits for the writers.
    public func token(id: String) async throws -> TokenRecord? {
        try await database.withConnection(reading: true) { db in
            try await db.raw("SELECT * FROM api_tokens WHERE id = \(bind: id)").first().map(StoreTransaction.tokenRecord)
        }
    }
}
