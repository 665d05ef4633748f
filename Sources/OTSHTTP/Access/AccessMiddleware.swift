import Foundation
import HTTPTypes
import Hummingbird
import OTSCore

/// Lets a request through when its token grants `needed`: 401 without a
/// valid token, 403 when the token's scope is not enough. The token comes
/// from `Authorization: Bearer`, or for reading from the dashboard's
/// `ots_token` cookie.
public struct AccessMiddleware: RouterMiddleware {
    public typealias Context = OTSRequestContext

    let needed: TokenScope
    let policy: AccessPolicy
    let authenticator: TokenAuthenticator

    public init(_ needed: TokenScope, policy: AccessPolicy, authenticator: TokenAuthenticator) {
        self.needed = needed
        self.policy = policy
        self.authenticator = authenticator
    }

    /// The dashboard's cookie.
    public static let cookie = "ots_token"

    public func handle(
        _ request: Request, context: OTSRequestContext, next: (Request, OTSRequestContext) async throws -> Response
    ) async throws -> Response {
        if policy.mode == .off || (needed == .read && policy.anonymousRead) {
            return try await next(request, context)
        }
        guard let text = Self.token(of: request, cookieAllowed: needed == .read) else {
            throw APIError(.unauthorized, "authorization: this request needs a token with the \(needed) scope (Authorization: Bearer TOKEN)")
        }
        let principal = try await authenticator.principal(token: text)
        guard principal.scope.grants(needed) else {
            throw APIError(.forbidden, "authorization: token '\(principal.name)' has the \(principal.scope) scope; this request needs \(needed)")
        }
        var context = context
        context.principal = principal
        return try await next(request, context)
    }

    /// The token a request carries. Cookies count only for reading, so a
    /// page on another site cannot make a browser change anything.
    static func token(of request: Request, cookieAllowed: Bool) -> String? {
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
            return String(parts[1]).trimmingCharacters(in: .whitespaces)
        }
        guard cookieAllowed, let cookie = request.cookies[Self.cookie]?.value, !cookie.isEmpty else { return nil }
        return cookie
    }
}
