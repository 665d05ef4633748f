import Foundation
import Logging
import OTSCore
import OTSHTTP
import OTSStore

extension Farm {
    /// Every token that is not revoked.
    public func tokens() async throws -> [TokenInfo] {
        try await store.read { tx in try await tx.tokens().map(\.info) }
    }

    public func createToken(_ request: TokenRequest, at now: Date = Date()) async throws -> CreatedToken {
        let (text, record) = try await store.createToken(name: request.name, scope: request.scope, at: now)
        logger.info("token \(record.id) '\(record.name)' created with the \(record.scope) scope")
        return CreatedToken(token: text, info: record.info)
    }

    public func revokeToken(id: String, at now: Date = Date()) async throws {
        guard try await store.transaction({ tx in try await tx.revokeToken(id: id, at: now) }) else {
            throw DomainError(.notFound, "no token \(id) that is not revoked already", field: "id")
        }
        logger.info("token \(id) revoked")
    }

    /// A worker instance that enrolls gets a token of its own; the tokens
    /// it had before stop working.
    func issueWorkerToken(workerID: String, at now: Date = Date()) async throws -> String {
        let (text, record) = APIToken.make(name: "worker \(workerID)", scope: .worker, workerID: workerID, at: now)
        try await store.transaction { tx in
            try await tx.revokeWorkerTokens(workerID: workerID, at: now)
            try await tx.insertToken(record)
        }
        return text
    }
}
