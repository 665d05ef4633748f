import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import OTSCore
import OTSHTTP
import OTSStore
import OTSTestSupport
import Testing

/// Who may do what, over real HTTP with tokens in a real store: 401 without
/// a valid token, 403 when its scope is not enough; cookies only for reading.
@Suite struct AccessTests {
    static let logger: Logger = {
        var logger = Logger(label: "ots.http.test")
        logger.logLevel = .critical
        return logger
    }()

    struct Tokens {
        var read: String
        var submit: String
        var worker: String
        var revokedID: String
        var revoked: String
    }

    /// A store in a temporary folder, with a token of each kind.
    static func withStore(_ body: (Store, Tokens) async throws -> Void) async throws {
        let folder = try TemporaryDirectory()
        let store = try await Store.open(.sqlite(path: folder.file("ots.sqlite")), logger: logger)
        do {
            let revoked = try await store.createToken(name: "old", scope: .admin)
            _ = try await store.transaction { tx in try await tx.revokeToken(id: revoked.record.id) }
            let tokens = Tokens(
                read: try await store.createToken(name: "dashboard", scope: .read).token,
                submit: try await store.createToken(name: "ci", scope: .submit).token,
                worker: try await store.createToken(name: "rack-1", scope: .worker).token,
                revokedID: revoked.record.id, revoked: revoked.token)
            try await body(store, tokens)
        } catch {
            await store.close()
            throw error
        }
        await store.close()
    }

    /// `/read` needs the read scope, `/submit` the submit scope; both answer
    /// the principal's name (or "anonymous").
    static func application(_ store: Store, policy: AccessPolicy = AccessPolicy()) -> some ApplicationProtocol {
        let router = Router(context: OTSRequestContext.self)
        router.add(middleware: ErrorMiddleware())
        let authenticator = TokenAuthenticator(store: store)
        for (path, scope) in [("read", TokenScope.read), ("submit", .submit)] {
            router.group(RouterPath(path)).add(middleware: AccessMiddleware(scope, policy: policy, authenticator: authenticator))
                .get { _, context in context.principal?.name ?? "anonymous" }
        }
        return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: logger)
    }

    static func message(_ response: TestResponse) throws -> String {
        try JSONCoding.decoder().decode(APIProblem.self, from: Data(response.body.readableBytesView)).message
    }

    @Test func aTokenOfTheRightScopeIsLetThroughAsItsPrincipal() async throws {
        try await Self.withStore { store, tokens in
            try await Self.application(store).test(.live) { client in
                for (uri, token, name) in [
                    ("/read", tokens.read, "dashboard"), ("/read", tokens.submit, "ci"), ("/submit", tokens.submit, "ci"),
                ] {
                    try await client.execute(uri: uri, method: .get, headers: [.authorization: "Bearer \(token)"]) { response in
                        #expect(response.status == .ok, "\(uri) as \(name)")
                        #expect(String(buffer: response.body) == name)
                    }
                }
            }
        }
    }

    @Test func noTokenOrABadOneIs401() async throws {
        try await Self.withStore { store, tokens in
            try await Self.application(store).test(.live) { client in
                try await client.execute(uri: "/read", method: .get) { response in
                    #expect(response.status == .unauthorized)
                    let message = try Self.message(response)
                    #expect(message == "authorization: this request needs a token with the read scope (Authorization: Bearer TOKEN)")
                }
                for header in [
                    "Basic \(tokens.read)", "Bearer", "Bearer ots_000000000000_" + String(repeating: "0", count: 64),
                    "Bearer \(tokens.revoked)", "Bearer nonsense",
                ] {
                    try await client.execute(uri: "/read", method: .get, headers: [.authorization: header]) { response in
                        #expect(response.status == .unauthorized, "\(header)")
                    }
                }
                try await client.execute(uri: "/read", method: .get, headers: [.authorization: "Bearer \(tokens.revoked)"]) { response in
                    let message = try Self.message(response)
                    #expect(message == "authorization: unknown or revoked token")
                }
            }
        }
    }

    @Test func aScopeThatIsNotEnoughIs403NamingTheToken() async throws {
        try await Self.withStore { store, tokens in
            try await Self.application(store).test(.live) { client in
                try await client.execute(uri: "/submit", method: .get, headers: [.authorization: "Bearer \(tokens.read)"]) { response in
                    #expect(response.status == .forbidden)
                    let message = try Self.message(response)
                    #expect(message == "authorization: token 'dashboard' has the read scope; this request needs submit")
                }
                try await client.execute(uri: "/read", method: .get, headers: [.authorization: "Bearer \(tokens.worker)"]) { response in
                    #expect(response.status == .forbidden, "a worker's token reads nothing")
                }
            }
        }
    }

    @Test func theDashboardsCookieCountsOnlyForReading() async throws {
        try await Self.withStore { store, tokens in
            try await Self.application(store).test(.live) { client in
                try await client.execute(uri: "/read", method: .get, headers: [.cookie: "ots_token=\(tokens.submit)"]) { response in
                    #expect(response.status == .ok)
                    #expect(String(buffer: response.body) == "ci")
                }
                try await client.execute(uri: "/submit", method: .get, headers: [.cookie: "ots_token=\(tokens.submit)"]) { response in
                    #expect(response.status == .unauthorized, "a page elsewhere cannot make a browser submit")
                }
                try await client.execute(uri: "/read", method: .get, headers: [.cookie: "ots_token="]) { response in
                    #expect(response.status == .unauthorized)
                }
            }
        }
    }

    @Test func anonymousReadingOpensOnlyReading() async throws {
        try await Self.withStore { store, _ in
            try await Self.application(store, policy: AccessPolicy(anonymousRead: true)).test(.live) { client in
                try await client.execute(uri: "/read", method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(String(buffer: response.body) == "anonymous")
                }
                try await client.execute(uri: "/submit", method: .get) { response in
                    #expect(response.status == .unauthorized)
                }
            }
        }
    }

    @Test func withAccessOffNothingIsChecked() async throws {
        try await Self.withStore { store, _ in
            try await Self.application(store, policy: AccessPolicy(mode: .off)).test(.live) { client in
                try await client.execute(uri: "/submit", method: .get) { response in
                    #expect(response.status == .ok)
                    #expect(String(buffer: response.body) == "anonymous")
                }
            }
        }
    }

    @Test func aRevokedTokenStopsWorkingWhenItsCachedAnswerRunsOutOrIsForgotten() async throws {
        try await Self.withStore { store, tokens in
            let authenticator = TokenAuthenticator(store: store, cacheSeconds: 5)
            let start = Date(timeIntervalSince1970: 1_800_000_000)
            let principal = try await authenticator.principal(token: tokens.submit, at: start)
            #expect(principal.name == "ci")
            #expect(principal.scope == .submit)
            _ = try await store.transaction { tx in try await tx.revokeToken(id: principal.tokenID) }

            let cached = try await authenticator.principal(token: tokens.submit, at: start.addingTimeInterval(4.9))
            #expect(cached == principal, "within its cache time the answer stands")
            await #expect(throws: APIError.self, "then the store is asked again") {
                try await authenticator.principal(token: tokens.submit, at: start.addingTimeInterval(5.1))
            }

            let read = try await authenticator.principal(token: tokens.read, at: start)
            _ = try await store.transaction { tx in try await tx.revokeToken(id: read.tokenID) }
            authenticator.forget(tokenID: read.tokenID)
            let error = await #expect(throws: APIError.self, "a revocation here is known at once") {
                try await authenticator.principal(token: tokens.read, at: start.addingTimeInterval(1))
            }
            #expect(error?.code == .unauthorized)
        }
    }

    @Test func aRefusalIsCachedToo() async throws {
        try await Self.withStore { store, _ in
            let authenticator = TokenAuthenticator(store: store, cacheSeconds: 5)
            let start = Date(timeIntervalSince1970: 1_800_000_000)
            let made = APIToken.make(name: "late", scope: .read, at: start)
            await #expect(throws: APIError.self) { try await authenticator.principal(token: made.token, at: start) }
            try await store.transaction { tx in try await tx.insertToken(made.record) }
            await #expect(throws: APIError.self, "the refusal stands for its cache time") {
                try await authenticator.principal(token: made.token, at: start.addingTimeInterval(1))
            }
            #expect(try await authenticator.principal(token: made.token, at: start.addingTimeInterval(6)).name == "late")
        }
    }
}
