import Hummingbird
import OTSCore

/// Who sent a request, as its token says.
public struct Principal: Sendable, Hashable {
    public var tokenID: String
    public var name: String
    public var scope: TokenScope
    /// The worker instance a `worker` token belongs to.
    public var workerID: String?

    public init(tokenID: String, name: String, scope: TokenScope, workerID: String? = nil) {
        self.tokenID = tokenID
        self.name = name
        self.scope = scope
        self.workerID = workerID
    }
}

/// The request context of OTS's servers: Hummingbird's, and the principal
/// the access middleware found.
public struct OTSRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var principal: Principal?

    public init(source: Source) {
        coreContext = .init(source: source)
    }
}
