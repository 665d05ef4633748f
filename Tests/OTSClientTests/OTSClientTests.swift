import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import NIOHTTP1
import OTSClient
import OTSCore
import OTSTestSupport
import Synchronization
import Testing

/// The client against a real HTTP server on a loopback port that records
/// what it was sent: how requests are built, and how answers and their
/// absence become `ClientError`s.
@Suite struct OTSClientTests {
    struct Seen: Sendable {
        var method: String
        var uri: String
        var authorization: String?
        var contentType: String?
        var body: String

        var path: String { String(uri.prefix { $0 != "?" }) }
        var query: [String: String] {
            Dictionary(
                (URLComponents(string: uri)?.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { first, _ in first })
        }
    }

    final class Recorder: Sendable {
        let seen = Mutex<[Seen]>([])
        var all: [Seen] { seen.withLock { $0 } }
        var last: Seen? { all.last }
    }

    static func problem(_ status: HTTPResponse.Status, _ error: String, _ message: String) throws -> Response {
        let body = try JSONCoding.encoder().encode(APIProblem(error: error, message: message))
        return Response(
            status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// Runs `body` with a server that records each request and answers by
    /// its path.
    static func withServer(_ body: @Sendable (String, Recorder) async throws -> Void) async throws {
        let recorder = Recorder()
        let router = Router()
        for method in [HTTPRequest.Method.get, .post, .put] {
            router.on("**", method: method) { request, _ -> Response in
                let text = String(buffer: try await request.body.collect(upTo: 1 << 20))
                let seen = Seen(
                    method: request.method.rawValue, uri: request.uri.description, authorization: request.headers[.authorization],
                    contentType: request.headers[.contentType], body: text)
                recorder.seen.withLock { $0.append(seen) }
                switch seen.path {
                case "/api/v1/testruns/ended/cancel": return try problem(.conflict, "conflict", "the testrun has ended")
                case "/api/v1/testruns/busy": return try problem(.serviceUnavailable, "unavailable", "the database is unavailable")
                case "/api/v1/testruns/gateway":
                    return Response(
                        status: .badGateway, headers: [.contentType: "text/plain"],
                        body: ResponseBody(byteBuffer: ByteBuffer(string: "upstream down")))
                case "/api/v1/testruns/garbled":
                    return Response(
                        status: .ok, headers: [.contentType: "application/json"],
                        body: ResponseBody(byteBuffer: ByteBuffer(string: "not json")))
                case "/api/v1/workers/claim": return Response(status: .noContent)
                case "/api/v1/workers/offline":
                    return Response(
                        status: .ok, headers: [.contentType: "application/json"],
                        body: ResponseBody(byteBuffer: ByteBuffer(string: #"{"ok":true}"#)))
                default: return try problem(.notFound, "not_found", "no such thing: \(seen.path)")
                }
            }
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            try await body("http://127.0.0.1:\(port)", recorder)
        }
    }

    @Test func requestsGoUnderAPIv1WithTheTokenAndTheQueryWhole() async throws {
        try await Self.withServer { base, recorder in
            let client = OTSClient(baseURL: base + "/", token: "ots_secret")
            _ = try? await client.send(.GET, "things", query: [("q", "a+b c"), ("since", "2027-01-15T08:00:00.000+01:00"), ("n", "5")])
            let seen = try #require(recorder.last)
            #expect(seen.method == "GET")
            #expect(seen.path == "/api/v1/things", "one slash between the base URL and the path")
            #expect(seen.query == ["q": "a+b c", "since": "2027-01-15T08:00:00.000+01:00", "n": "5"], "'+' arrives as a plus: \(seen.uri)")
            #expect(seen.uri.contains("%2B"))
            #expect(seen.authorization == "Bearer ots_secret")
            #expect(seen.contentType == nil, "no body, no content type")
        }
    }

    @Test func aBodyGoesWithItsContentTypeAndNoTokenWithoutOne() async throws {
        try await Self.withServer { base, recorder in
            let client = OTSClient(baseURL: base)
            _ = try? await client.uploadResults(taskID: "t/1", workerID: "rack/a1", package: "p q", xml: Array("<results/>".utf8))
            let seen = try #require(recorder.last)
            #expect(seen.method == "PUT")
            #expect(seen.path == "/api/v1/tasks/t%2F1/results", "an id is one path segment")
            #expect(seen.query == ["worker": "rack/a1", "package": "p q"])
            #expect(seen.contentType == "application/xml")
            #expect(seen.body == "<results/>")
            #expect(seen.authorization == nil)
        }
    }

    @Test func jsonCallsSendJSON() async throws {
        try await Self.withServer { base, recorder in
            let client = OTSClient(baseURL: base, token: "t")
            try await client.offline(workerID: "rack/a1")
            let seen = try #require(recorder.last)
            #expect(seen.method == "POST")
            #expect(seen.path == "/api/v1/workers/offline")
            #expect(seen.contentType == "application/json")
            #expect(try JSONDecoder().decode([String: String].self, from: Data(seen.body.utf8)) == ["worker_id": "rack/a1"])
        }
    }

    @Test func aRefusalCarriesTheServersProblem() async throws {
        try await Self.withServer { base, _ in
            let client = OTSClient(baseURL: base)
            let error = await #expect(throws: ClientError.self) { try await client.cancel(id: "ended") }
            #expect(error?.status == 409)
            #expect(error?.kind == .rejected(status: 409, APIProblem(error: "conflict", message: "the testrun has ended")))
            #expect(error?.message == "the server refused POST /api/v1/testruns/ended/cancel: the testrun has ended")
            #expect(error?.isTransient == false, "the same request would be refused again")
        }
    }

    @Test func aServerInTroubleIsWorthTryingAgain() async throws {
        try await Self.withServer { base, _ in
            let client = OTSClient(baseURL: base)
            let busy = await #expect(throws: ClientError.self) { try await client.testrun(id: "busy") }
            #expect(busy?.status == 503)
            #expect(busy?.isTransient == true)
            let gateway = await #expect(throws: ClientError.self) { try await client.testrun(id: "gateway") }
            #expect(gateway?.status == 502)
            guard case .rejected(_, let problem) = gateway?.kind else {
                Issue.record("not a refusal: \(String(describing: gateway))")
                return
            }
            #expect(problem.error == "http", "an answer that is not a problem is described")
            #expect(problem.message.contains("upstream down"), "\(problem.message)")
        }
    }

    @Test func anAnswerThatDoesNotDecodeIsABadResponse() async throws {
        try await Self.withServer { base, _ in
            let error = await #expect(throws: ClientError.self) { try await OTSClient(baseURL: base).testrun(id: "garbled") }
            #expect(error?.kind == .badResponse)
            #expect(
                error?.message.hasPrefix("cannot read the server's answer to GET /api/v1/testruns/garbled") == true,
                "\(error?.message ?? "")")
            #expect(error?.isTransient == true)
        }
    }

    @Test func aClaimWithoutATaskIsNil() async throws {
        try await Self.withServer { base, recorder in
            let task = try await OTSClient(baseURL: base).claim(workerID: "rack/a1", wait: 0)
            #expect(task == nil)
            let seen = try #require(recorder.last)
            #expect(seen.path == "/api/v1/workers/claim")
            let body = try #require(try JSONSerialization.jsonObject(with: Data(seen.body.utf8)) as? [String: Any])
            #expect(body["worker_id"] as? String == "rack/a1")
        }
    }

    @Test func aWorkerInstanceSendsTheTokenItHoldsAtEachRequest() async throws {
        try await Self.withServer { base, recorder in
            let credentials = WorkerCredentials()
            let client = OTSClient(baseURL: base, token: "admin").acting(for: "rack/a1", credentials: credentials)
            _ = try? await client.send(.GET, "one")
            #expect(recorder.last?.authorization == nil, "no token before enrolling")
            credentials.set("first", for: "rack/a1")
            _ = try? await client.send(.GET, "two")
            #expect(recorder.last?.authorization == "Bearer first")
            credentials.set("second", for: "rack/a1")
            credentials.set("other", for: "rack/b2")
            _ = try? await client.send(.GET, "three")
            #expect(recorder.last?.authorization == "Bearer second", "enrolling again replaces it")
        }
    }

    @Test func monitorQueriesNameWhatTheyAskFor() async throws {
        try await Self.withServer { base, recorder in
            let client = OTSClient(baseURL: base)
            let since = Date(timeIntervalSince1970: 1_800_000_000.25)
            _ = try? await client.events(testrun: "t1", worker: "rack/a1", type: "task.", since: since, limit: 7)
            let events = try #require(recorder.last)
            #expect(events.path == "/api/v1/events")
            #expect(
                events.query == ["testrun": "t1", "worker": "rack/a1", "type": "task.", "since": "2027-01-15T08:00:00.250Z", "limit": "7"])
            _ = try? await client.commonErrors(window: "24h", deviceGroup: "phones", limit: 3)
            #expect(recorder.last?.path == "/api/v1/errors")
            #expect(recorder.last?.query == ["window": "24h", "devicegroup": "phones", "limit": "3"])
            _ = try? await client.timeline(testrun: "a b")
            #expect(recorder.last?.path == "/api/v1/testruns/a%20b/timeline")
        }
    }

    @Test func anUnreachableServerIsSaidToBeAndWorthTryingAgain() async throws {
        let port = try SSHServer.freePort()
        let error = await #expect(throws: ClientError.self) { try await OTSClient(baseURL: "http://127.0.0.1:\(port)").testruns() }
        #expect(error?.kind == .unreachable)
        #expect(error?.message == "cannot reach the OTS server at http://127.0.0.1:\(port): connection refused")
        #expect(error?.isTransient == true)
        #expect(error?.status == nil)
    }

    @Test func aCAFileThatCannotBeReadIsUnusable() {
        #expect(throws: ClientError.self) { try OTSClient.http(trusting: "/nonexistent/ca.pem") }
        do {
            _ = try OTSClient.downloads(trusting: "/nonexistent/ca.pem")
            Issue.record("an unreadable CA file was taken")
        } catch {
            #expect(error.kind == .unusable)
            #expect(error.message == "ca_file: cannot read /nonexistent/ca.pem")
            #expect(!error.isTransient)
        }
    }
}
