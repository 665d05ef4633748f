import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import OTSCore
import OTSHTTP
import OTSStore
import Testing

/// Every error a handler throws becomes one JSON answer, over real HTTP on
/// a loopback port: API errors with their status and field, the database
/// away as a 503 that says when to try again, anything else as a 500 that
/// does not tell its internals.
@Suite struct ErrorMiddlewareTests {
    static let codes: [String: APIError.Code] = [
        "bad_request": .badRequest, "unauthorized": .unauthorized, "forbidden": .forbidden, "not_found": .notFound,
        "conflict": .conflict, "too_large": .tooLarge, "unavailable": .unavailable, "internal": .internalError,
    ]

    static func application(retryAfterSeconds: Double = 5) -> some ApplicationProtocol {
        let router = Router(context: OTSRequestContext.self)
        router.add(middleware: ErrorMiddleware(retryAfterSeconds: retryAfterSeconds))
        router.get("api/:code") { _, context -> Response in
            let name = try context.parameters.require("code")
            guard let code = codes[name] else { throw HTTPError(.badRequest) }
            throw APIError(code, "\(name) happened", field: name == "bad_request" ? "device.devicegroup" : nil)
        }
        router.get("store/unavailable") { _, _ -> Response in
            throw StoreError(.unavailable, "no connection to the database postgres://secret@db/ots")
        }
        router.get("store/conflict") { _, _ -> Response in throw StoreError(.conflict, "a secret of the store") }
        router.get("http/missing") { _, _ -> Response in throw HTTPError(.notFound) }
        router.get("http/method") { _, _ -> Response in throw HTTPError(.methodNotAllowed, message: "only POST here") }
        router.get("other") { _, _ -> Response in throw CocoaError(.fileReadNoPermission, userInfo: [NSFilePathErrorKey: "/etc/secret"]) }
        router.get("fine") { _, _ in try JSONResponse.make(["answer": "42"]) }
        return Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
    }

    static func problem(_ response: TestResponse) throws -> APIProblem {
        try JSONCoding.decoder().decode(APIProblem.self, from: Data(response.body.readableBytesView))
    }

    @Test(arguments: [
        ("bad_request", HTTPResponse.Status.badRequest), ("unauthorized", .unauthorized), ("forbidden", .forbidden),
        ("not_found", .notFound), ("conflict", .conflict), ("too_large", .contentTooLarge), ("unavailable", .serviceUnavailable),
        ("internal", .internalServerError),
    ])
    func eachAPIErrorCodeHasItsStatusAndSaysWhatHappened(code: String, status: HTTPResponse.Status) async throws {
        try await Self.application().test(.live) { client in
            try await client.execute(uri: "/api/\(code)", method: .get) { response in
                #expect(response.status == status)
                #expect(response.headers[.contentType] == "application/json; charset=utf-8")
                let problem = try Self.problem(response)
                #expect(problem.error == code)
                #expect(problem.message == "\(code) happened")
                #expect(problem.field == (code == "bad_request" ? "device.devicegroup" : nil))
                #expect((response.headers[.retryAfter] != nil) == (code == "unavailable"), "only a 503 says when to try again")
            }
        }
    }

    @Test func theDatabaseAwayIsA503ThatSaysWhenToTryAgainWithoutItsAddress() async throws {
        try await Self.application(retryAfterSeconds: 1.5).test(.live) { client in
            try await client.execute(uri: "/store/unavailable", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] == "2", "whole seconds, rounded up")
                let problem = try Self.problem(response)
                #expect(problem.error == "unavailable")
                #expect(problem.message == "the database is unavailable; try again shortly")
                #expect(!String(buffer: response.body).contains("secret"))
            }
        }
    }

    @Test(arguments: [(0.0, "1"), (0.2, "1"), (5.0, "5"), (30.1, "31")])
    func retryAfterIsAtLeastOneWholeSecond(seconds: Double, header: String) async throws {
        try await Self.application(retryAfterSeconds: seconds).test(.live) { client in
            try await client.execute(uri: "/api/unavailable", method: .get) { response in
                #expect(response.headers[.retryAfter] == header)
            }
        }
    }

    @Test func anyOtherErrorIsA500ThatKeepsItsDetailsInTheLog() async throws {
        try await Self.application().test(.live) { client in
            for uri in ["/store/conflict", "/other"] {
                try await client.execute(uri: uri, method: .get) { response in
                    #expect(response.status == .internalServerError, "\(uri)")
                    let problem = try Self.problem(response)
                    #expect(problem.error == "internal")
                    #expect(problem.message == "the server failed to handle the request; see its log")
                    #expect(!String(buffer: response.body).contains("secret"), "\(uri)")
                }
            }
        }
    }

    @Test func hummingbirdsOwnErrorsKeepTheirStatus() async throws {
        try await Self.application().test(.live) { client in
            try await client.execute(uri: "/http/missing", method: .get) { response in
                #expect(response.status == .notFound)
                let problem = try Self.problem(response)
                #expect(problem.error == "not_found")
                #expect(problem.message == "Not Found")
            }
            try await client.execute(uri: "/http/method", method: .get) { response in
                #expect(response.status == .methodNotAllowed)
                let problem = try Self.problem(response)
                #expect(problem.error == "http")
                #expect(problem.message == "only POST here")
            }
            try await client.execute(uri: "/fine", method: .get) { response in
                #expect(response.status == .ok, "an answer passes untouched")
                #expect(String(buffer: response.body) == #"{"answer":"42"}"#)
            }
        }
    }

    @Test func theOpenRoutesAnswerHealthAndTheDocument() async throws {
        let document = Array(#"{"openapi": "3.1.0"}"#.utf8)
        let router = Router(context: OTSRequestContext.self)
        _ = router.apiGroup(document: document)
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            try await client.execute(uri: "/api/v1/health", method: .get) { response in
                #expect(response.status == .ok)
                let health = try JSONDecoder().decode([String: String].self, from: Data(response.body.readableBytesView))
                #expect(health == ["status": "ok", "version": OTSVersion.current])
            }
            try await client.execute(uri: "/api/v1/openapi.json", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/json")
                #expect(Array(response.body.readableBytesView) == document, "the document as it was given")
            }
        }
    }
}
