import Foundation

/// What an API token lets its holder do. Scopes nest: `admin` includes
/// `submit`, which includes `read`. `worker` is apart: it is given to one
/// worker instance at enrollment and lets it act on its own tasks only.
public enum TokenScope: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    case read
    case submit
    /// Submits requests that run commands on a worker host too (host
    /// packages, definitions by URL), where the server's
    /// `require_host_scope` asks for it.
    case submitHost = "submit-host"
    case admin
    case worker

    /// Whether a token of this scope may do what `needed` requires.
    public func grants(_ needed: TokenScope) -> Bool {
        switch (self, needed) {
        case (.worker, .worker): true
        case (.worker, _), (_, .worker): false
        case (.admin, _): true
        case (.submitHost, .read), (.submitHost, .submit), (.submitHost, .submitHost): true
        case (.submit, .read), (.submit, .submit): true
        case (.read, .read): true
        default: false
        }
    }

    /// The scopes a person may create with `ots token create`.
    public static let personal: [TokenScope] = [.read, .submit, .submitHost, .admin]

    public var description: String { rawValue }
}

/// A token as `GET /api/v1/tokens` and `ots token list` show it: never its
/// secret.
public struct TokenInfo: Sendable, Hashable, Codable {
    public var id: String
    public var name: String
    public var scope: TokenScope
    /// The worker instance a `worker` token belongs to.
    public var workerID: String?
    public var createdAt: Date
    public var revokedAt: Date?

    enum CodingKeys: String, CodingKey {
        case id, name, scope
        case workerID = "worker_id"
        case createdAt = "created_at"
        case revokedAt = "revoked_at"
    }

    public init(id: String, name: String, scope: TokenScope, workerID: String? = nil, createdAt: Date, revokedAt: Date? = nil) {
        self.id = id
        self.name = name
        self.scope = scope
        self.workerID = workerID
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }
}

/// A token just made: the only time its secret is shown.
public struct CreatedToken: Sendable, Hashable, Codable {
    public var token: String
    public var info: TokenInfo

    public init(token: String, info: TokenInfo) {
        self.token = token
        self.info = info
    }
}

/// A request to `POST /api/v1/tokens`.
public struct TokenRequest: Sendable, Hashable, Codable {
    public var name: String
    public var scope: TokenScope

    public init(name: String, scope: TokenScope) {
        self.name = name
        self.scope = scope
    }

    /// What is wrong with the request, if anything.
    public var problem: (field: String, message: String)? {
        if name.isEmpty || name.count > 100 { return ("name", "must have 1 to 100 characters") }
        if !TokenScope.personal.contains(scope) { return ("scope", "must be read, submit, submit-host or admin") }
        return nil
    }
}
