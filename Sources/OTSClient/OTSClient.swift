import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import OTSCore
import Synchronization

/// Talks to an OTS server's REST API: the calls of `ots submit`, `status`
/// and friends, and the worker protocol.
public struct OTSClient: Sendable {
    /// The server's base URL, like `http://127.0.0.1:8310`.
    public let baseURL: String
    let token: String?
    let http: HTTPClient
    /// A worker instance's token, looked up at each request (enrolling
    /// again replaces it).
    let credentials: WorkerCredentials?
    let workerID: String?

    public init(baseURL: String, token: String? = nil, http: HTTPClient = OTSClient.http) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.token = token
        self.http = http
        self.credentials = nil
        self.workerID = nil
    }

    private init(_ other: OTSClient, credentials: WorkerCredentials, workerID: String) {
        baseURL = other.baseURL
        token = other.token
        http = other.http
        self.credentials = credentials
        self.workerID = workerID
    }

    /// This client, sending the token `credentials` hold for `workerID`.
    public func acting(for workerID: String, credentials: WorkerCredentials) -> OTSClient {
        OTSClient(self, credentials: credentials, workerID: workerID)
    }

    var authorization: String? {
        if let credentials, let workerID { return credentials.token(for: workerID) }
        return token
    }

    /// An HTTP client that also trusts the certificates in `caFile` (PEM):
    /// for servers whose certificate a private authority signed. One per
    /// file, for the life of the process.
    public static func http(trusting caFile: String?) throws(ClientError) -> HTTPClient {
        guard let caFile else { return http }
        return try client(trusting: caFile, followingRedirects: true)
    }

    /// Like `http(trusting:)`, but following no redirect: for URLs a
    /// worker checks against its policy, each redirect too.
    public static func downloads(trusting caFile: String?) throws(ClientError) -> HTTPClient {
        guard let caFile else { return downloads }
        return try client(trusting: caFile, followingRedirects: false)
    }

    private static func client(trusting caFile: String, followingRedirects: Bool) throws(ClientError) -> HTTPClient {
        try clients.withLock { (clients: inout [String: HTTPClient]) throws(ClientError) -> HTTPClient in
            let key = (followingRedirects ? "follow " : "stay ") + caFile
            if let client = clients[key] { return client }
            guard FileManager.default.isReadableFile(atPath: caFile) else {
                throw ClientError(.unusable, "ca_file: cannot read \(caFile)")
            }
            var configuration = baseConfiguration
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.additionalTrustRoots = [.file(caFile)]
            configuration.tlsConfiguration = tls
            if !followingRedirects { configuration.redirectConfiguration = .disallow }
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            clients[key] = client
            return client
        }
    }

    private static let clients = Mutex<[String: HTTPClient]>([:])

    static var baseConfiguration: HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration()
        configuration.timeout.connect = .seconds(3)
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 256
        return configuration
    }

    /// The HTTP client OTS's tools share: an unreachable server is reported
    /// within seconds (not at the request's deadline), and enough
    /// connections per server for every instance's long-poll claim beside
    /// its heartbeats and the spool.
    public static let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: baseConfiguration)

    /// `http`, following no redirect.
    public static let downloads: HTTPClient = {
        var configuration = baseConfiguration
        configuration.redirectConfiguration = .disallow
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }()

    /// Largest answer read.
    static let maxResponse = 256 * 1024 * 1024

    /// Sends one request; returns the status and body of a 2xx answer,
    /// throws `ClientError` for anything else.
    public func send(
        _ method: HTTPMethod,
        _ path: String,
        query: [(String, String)] = [],
        body: [UInt8]? = nil,
        contentType: String = "application/json",
        timeout: Duration = .seconds(60)
    ) async throws(ClientError) -> (status: Int, body: Data) {
        var components = URLComponents()
        components.queryItems = query.map { URLQueryItem(name: $0.0, value: $0.1) }
        // '+' is a space in form decoding: encode it so that values arrive whole.
        let encodedQuery = components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        let url = baseURL + "/api/v1/" + path + (query.isEmpty ? "" : "?" + (encodedQuery ?? ""))
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let token = authorization { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: contentType)
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let response: HTTPClientResponse
        let data: Data
        do {
            response = try await http.execute(request, timeout: TimeAmount(timeout))
            let buffer = try await response.body.collect(upTo: Self.maxResponse)
            data = Data(buffer.readableBytesView)
        } catch {
            throw ClientError(.unreachable, "cannot reach the OTS server at \(baseURL): \(Self.describe(error))")
        }
        let status = Int(response.status.code)
        guard (200..<300).contains(status) else {
            let problem =
                (try? JSONCoding.decoder().decode(APIProblem.self, from: data))
                ?? APIProblem(error: "http", message: "\(response.status) \(String(decoding: data.prefix(200), as: UTF8.self))")
            throw ClientError(.rejected(status: status, problem), "the server refused \(method) /api/v1/\(path): \(problem.message)")
        }
        return (status, data)
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError {
            switch error {
            case .connectTimeout: return "connection timed out"
            case .deadlineExceeded: return "no answer in time"
            case .remoteConnectionClosed: return "the server closed the connection"
            default: return "\(error)"
            }
        }
        let text = "\(error)"
        if text.contains("connection refused") || text.contains("Connection refused") { return "connection refused" }
        return text
    }

    /// Sends JSON and decodes JSON.
    public func call<Answer: Decodable>(
        _ method: HTTPMethod, _ path: String, query: [(String, String)] = [], json: (some Encodable)? = nil as String?,
        timeout: Duration = .seconds(60), as: Answer.Type = Answer.self
    ) async throws(ClientError) -> Answer {
        var body: [UInt8]?
        if let json {
            do {
                body = [UInt8](try JSONCoding.encoder().encode(json))
            } catch {
                throw ClientError(.badResponse, "cannot encode the request: \(error)")
            }
        }
        return try await call(method, path, query: query, body: body, timeout: timeout)
    }

    /// Sends a body of JSON text and decodes JSON.
    func call<Answer: Decodable>(
        _ method: HTTPMethod, _ path: String, query: [(String, String)] = [], body: [UInt8]?, timeout: Duration = .seconds(60),
        as: Answer.Type = Answer.self
    ) async throws(ClientError) -> Answer {
        let answer = try await send(method, path, query: query, body: body, timeout: timeout)
        do {
            return try JSONCoding.decoder().decode(Answer.self, from: answer.body)
        } catch {
            throw ClientError(.badResponse, "cannot read the server's answer to \(method) /api/v1/\(path): \(error)")
        }
    }
}

extension OTSClient {
    // MARK: Testruns

    /// Submits a request body as it is (JSON text), for tools that hold
    /// one already; the server validates it.
    public func submit(json body: [UInt8]) async throws(ClientError) -> TestrunView {
        let answer = try await send(.POST, "testruns", body: body)
        do {
            return try JSONCoding.decoder().decode(TestrunView.self, from: answer.body)
        } catch {
            throw ClientError(.badResponse, "cannot read the server's answer to POST /api/v1/testruns: \(error)")
        }
    }

    public func submit(_ request: TestrunRequest) async throws(ClientError) -> TestrunView {
        try await call(.POST, "testruns", json: request)
    }

    public func testrun(id: String) async throws(ClientError) -> TestrunView {
        try await call(.GET, "testruns/\(Self.segment(id))")
    }

    public func testruns(state: TestrunState? = nil, deviceGroup: String? = nil, requestor: String? = nil, limit: Int = 50)
        async throws(ClientError) -> TestrunList
    {
        var query = [("limit", String(limit))]
        if let state { query.append(("state", state.rawValue)) }
        if let deviceGroup { query.append(("devicegroup", deviceGroup)) }
        if let requestor { query.append(("requestor", requestor)) }
        return try await call(.GET, "testruns", query: query)
    }

    public func cancel(id: String) async throws(ClientError) -> TestrunView {
        try await call(.POST, "testruns/\(Self.segment(id))/cancel")
    }

    /// The merged results: `xml` (testdefinition-results) or `junit`.
    public func results(id: String, format: String) async throws(ClientError) -> Data {
        try await send(.GET, "testruns/\(Self.segment(id))/results", query: [("format", format)]).body
    }

    // MARK: Worker protocol

    public func register(_ registration: WorkerRegistration) async throws(ClientError) -> WorkerRegistered {
        try await call(.POST, "workers", json: registration)
    }

    public func heartbeat(_ heartbeat: Heartbeat) async throws(ClientError) -> HeartbeatReply {
        try await call(.POST, "workers/heartbeat", json: heartbeat, timeout: .seconds(30))
    }

    /// Waits up to `wait` for a task; nil when none came.
    public func claim(workerID: String, wait: Double) async throws(ClientError) -> TaskAssignment? {
        let body = try? JSONCoding.encoder().encode(ClaimRequest(workerID: workerID, waitSeconds: wait))
        let answer = try await send(.POST, "workers/claim", body: body.map { [UInt8]($0) }, timeout: .seconds(Int64(wait) + 30))
        if answer.status == 204 { return nil }
        do {
            return try JSONCoding.decoder().decode(TaskAssignment.self, from: answer.body)
        } catch {
            throw ClientError(.badResponse, "cannot read the task the server handed out: \(error)")
        }
    }

    /// Tells the server this instance goes offline (a clean shutdown).
    public func offline(workerID: String) async throws(ClientError) {
        let _: [String: Bool] = try await call(.POST, "workers/offline", json: ["worker_id": workerID], timeout: .seconds(5))
    }

    public func post(events: [MonitorEvent]) async throws(ClientError) -> EventBatchReply {
        // Events are a worker's bulk: written directly, not through Codable.
        try await call(.POST, "events", body: Array(EventBatch(events: events).json.utf8))
    }

    public func uploadResults(taskID: String, workerID: String, package: String, xml: [UInt8]) async throws(ClientError) {
        _ = try await send(
            .PUT, "tasks/\(Self.segment(taskID))/results", query: [("worker", workerID), ("package", package)], body: xml,
            contentType: "application/xml")
    }

    public func uploadFile(taskID: String, workerID: String, package: String, name: String, content: [UInt8]) async throws(ClientError) {
        _ = try await send(
            .PUT, "tasks/\(Self.segment(taskID))/files", query: [("worker", workerID), ("package", package), ("name", name)],
            body: content, contentType: "application/octet-stream")
    }

    /// Asks whether to start a set of a task: false when dynamic balancing
    /// moved it to another task.
    public func startSet(taskID: String, _ start: SetStart) async throws(ClientError) -> Bool {
        let reply: SetStartReply = try await call(.POST, "tasks/\(Self.segment(taskID))/sets", json: start)
        return reply.run
    }

    public func finish(taskID: String, _ finish: TaskFinish) async throws(ClientError) {
        let _: [String: Bool] = try await call(.POST, "tasks/\(Self.segment(taskID))/finish", json: finish)
    }

    static func segment(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? text
    }
}

/// The tokens of a worker process's instances, by worker id: set at
/// enrollment, read by every request an instance (or its spool) sends.
public final class WorkerCredentials: Sendable {
    private let tokens = Mutex<[String: String]>([:])

    public init() {}

    public func set(_ token: String?, for workerID: String) {
        tokens.withLock { $0[workerID] = token }
    }

    public func token(for workerID: String) -> String? {
        tokens.withLock { $0[workerID] }
    }
}
