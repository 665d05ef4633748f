import Foundation
import HTTPTypes
import Hummingbird
import OTSCore
import OTSHTTP
import OTSStore
import Synchronization
import TestDefinition

/// The REST API under `/api/v1` (see `openapi.json`).
struct APIRoutes {
    let farm: Farm
    let access: AccessPolicy
    let enrollmentSecret: String?
    let authenticator: TokenAuthenticator

    var limits: (request: Int, results: Int, file: Int) {
        (farm.configuration.maxRequestBytes, farm.configuration.maxResultsBytes, farm.configuration.maxFileBytes)
    }

    func register(on router: Router<OTSRequestContext>) {
        let open = router.apiGroup(document: Array(OpenAPIDocument.data))

        let api = open.group().add(middleware: AccessMiddleware(.read, policy: access, authenticator: authenticator))
        let submit = open.group().add(middleware: AccessMiddleware(.submit, policy: access, authenticator: authenticator))
        submit.post("testruns") { request, context in
            try JSONResponse.make(try await farm.submit(try await body(request), scope: context.principal?.scope), status: .created)
        }
        api.get("testruns") { request, _ in
            let query = request.uri.queryParameters
            var filter = TestrunFilter()
            filter.state = query.get("state")
            filter.deviceGroup = query.get("devicegroup")
            filter.requestor = query.get("requestor")
            if let limit = query.get("limit") {
                guard let value = Int(limit), (1...1000).contains(value) else {
                    throw APIError(.badRequest, "limit: must be an integer from 1 to 1000", field: "limit")
                }
                filter.limit = value
            }
            if let state = filter.state, !["queued", "running", "finished", "cancelled"].contains(state) {
                throw APIError(.badRequest, "state: must be queued, running, finished or cancelled", field: "state")
            }
            return try JSONResponse.make(try await farm.testruns(filter))
        }
        api.get("testruns/:id") { _, context in
            try JSONResponse.make(try await farm.testrun(id: try context.parameters.require("id")))
        }
        submit.post("testruns/:id/cancel") { _, context in
            try JSONResponse.make(try await farm.cancel(id: try context.parameters.require("id")))
        }
        api.get("testruns/:id/results") { request, context in
            let format = request.uri.queryParameters.get("format") ?? "xml"
            guard let kind = Farm.ResultsFormat(rawValue: format) else {
                throw APIError(.badRequest, "format: must be xml or junit, not '\(format.prefix(50))'", field: "format")
            }
            let xml = try await farm.results(testrunID: try context.parameters.require("id"), format: kind)
            return Response(
                status: .ok, headers: [.contentType: "application/xml; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: xml)))
        }
        api.get("testruns/:id/files") { _, context in
            try JSONResponse.make(try await farm.files(testrunID: try context.parameters.require("id")))
        }
        api.get("testruns/:id/files/content") { request, context in
            let query = request.uri.queryParameters
            let content = try await farm.fileContent(
                testrunID: try context.parameters.require("id"), taskID: try required(query, "task"),
                package: try required(query, "package"), name: try required(query, "name"))
            return Response(
                status: .ok, headers: [.contentType: "application/octet-stream"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: content)))
        }

        let admin = open.group().add(middleware: AccessMiddleware(.admin, policy: access, authenticator: authenticator))
        admin.get("tokens") { _, _ in try JSONResponse.make(try await farm.tokens()) }
        admin.post("tokens") { request, _ in
            let wanted = try APIError.decodeBody(TokenRequest.self, from: try await body(request), what: "the token request")
            if let problem = wanted.problem { throw APIError(.badRequest, "\(problem.field): \(problem.message)", field: problem.field) }
            return try JSONResponse.make(try await farm.createToken(wanted), status: .created)
        }
        admin.delete("tokens/:id") { _, context in
            let id = try context.parameters.require("id")
            try await farm.revokeToken(id: id)
            authenticator.forget(tokenID: id)
            return try JSONResponse.make(["revoked": true])
        }

        open.post("workers") { request, _ in
            try enrolled(request)
            var registered = try await farm.register(try await body(request))
            if access.mode == .tokens { registered.token = try await farm.issueWorkerToken(workerID: registered.workerID) }
            return try JSONResponse.make(registered, status: .created)
        }
        let workers = open.group().add(middleware: AccessMiddleware(.worker, policy: access, authenticator: authenticator))
        workers.post("workers/heartbeat") { request, context in
            let body = try await body(request)
            try context.acts(for: try WorkerField.decode(body))
            return try JSONResponse.make(try await farm.heartbeat(body))
        }
        workers.post("workers/offline") { request, context in
            let body = try await body(request)
            try context.acts(for: try WorkerField.decode(body))
            try await farm.offline(body)
            return try JSONResponse.make(["offline": true])
        }
        // Watching for the close ends the connection after the answer: the
        // answer says so, so that the worker opens a new one for what follows.
        let claims = workers.group().add(middleware: ClosesConnection())
        claims.post("workers/claim") { request, context in
            // A claim whose worker has gone (its connection closed) is not
            // granted: the body is read through the handler that tells.
            let connection = ClaimConnection()
            let assignment = try await request.body.consumeWithInboundCloseHandler { body in
                defer { connection.finish() }
                let claim = try APIError.decodeBody(ClaimRequest.self, from: try await collect(body), what: "the claim")
                if let problem = claim.problem { throw APIError(.badRequest, problem.description, field: problem.field) }
                try context.acts(for: claim.workerID)
                let wait = min(claim.waitSeconds ?? farm.configuration.claimWait, farm.configuration.claimWait)
                return try await farm.claim(
                    workerID: claim.workerID, wait: .milliseconds(Int64(wait * 1000)), connected: { connection.isOpen })
            } onInboundClosed: {
                if connection.close() { farm.wakeClaims() }
            }
            guard let assignment else { return Response(status: .noContent) }
            return try JSONResponse.make(assignment)
        }
        workers.post("events") { request, context in
            try JSONResponse.make(try await farm.receive(try await body(request), from: context.principal?.workerID))
        }
        workers.put("tasks/:id/results") { request, context in
            let query = request.uri.queryParameters
            let worker = try required(query, "worker")
            try context.acts(for: worker)
            let stored = try await farm.saveResults(
                taskID: try context.parameters.require("id"), workerID: worker,
                package: try required(query, "package"),
                xml: try await body(request, limit: limits.results, what: "results", key: "max_results_bytes"))
            return try JSONResponse.make(["stored": stored])
        }
        workers.put("tasks/:id/files") { request, context in
            let query = request.uri.queryParameters
            let worker = try required(query, "worker")
            try context.acts(for: worker)
            let stored = try await farm.saveFile(
                taskID: try context.parameters.require("id"), workerID: worker,
                package: try required(query, "package"), name: try required(query, "name"),
                content: [UInt8](try await body(request, limit: limits.file, what: "file", key: "max_file_bytes")))
            return try JSONResponse.make(["stored": stored])
        }
        workers.post("tasks/:id/sets") { request, context in
            let body = try await body(request)
            try context.acts(for: try WorkerField.decode(body))
            return try JSONResponse.make(try await farm.startSet(taskID: try context.parameters.require("id"), body))
        }
        workers.post("tasks/:id/finish") { request, context in
            let body = try await body(request)
            try context.acts(for: try WorkerField.decode(body))
            try await farm.finish(taskID: try context.parameters.require("id"), body)
            return try JSONResponse.make(["finished": true])
        }
    }

    /// A registration must carry the enrollment secret.
    private func enrolled(_ request: Request) throws {
        guard access.mode == .tokens else { return }
        guard let header = request.headers[.authorization] else {
            throw APIError(
                .unauthorized, "authorization: a worker enrolls with the farm's enrollment secret (Authorization: Bearer SECRET)")
        }
        guard let secret = enrollmentSecret, APIToken.constantTimeEqual(header, "Bearer \(secret)") else {
            throw APIError(.unauthorized, "authorization: wrong enrollment secret")
        }
    }

    /// The request's body, refused with the limit named when it is over.
    private func body(_ request: Request, limit: Int? = nil, what: String = "request body", key: String = "max_request_bytes")
        async throws -> Data
    {
        try await collect(request.body, limit: limit, what: what, key: key)
    }

    private func collect(_ body: RequestBody, limit: Int? = nil, what: String = "request body", key: String = "max_request_bytes")
        async throws -> Data
    {
        let limit = limit ?? limits.request
        do {
            let buffer = try await body.collect(upTo: limit)
            return Data(buffer.readableBytesView)
        } catch {
            throw APIError(.tooLarge, "body: the \(what) is over the server's limit of \(limit) bytes (\(key))", field: "body")
        }
    }

    private func required(_ query: Parameters, _ name: String) throws -> String {
        guard let value = query.get(name), !value.isEmpty else {
            throw APIError(.badRequest, "\(name): required query parameter is missing", field: name)
        }
        return value
    }
}

/// Answers, errors included, that end their connection say so
/// (`Connection: close`), so that no client sends another request on it.
struct ClosesConnection<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await ErrorMiddleware<Context>().handle(request, context: context, next: next)
        response.headers[.connection] = "close"
        return response
    }
}

/// Whether a waiting claim's connection is still open: the claim is
/// granted only while it is.
final class ClaimConnection: Sendable {
    private enum State { case waiting, closed, done }
    private let state = Mutex(State.waiting)

    var isOpen: Bool { state.withLock { $0 != .closed } }

    /// The connection closed; true when a claim was still waiting on it.
    func close() -> Bool {
        state.withLock { state in
            guard state == .waiting else { return false }
            state = .closed
            return true
        }
    }

    /// The claim has its answer: a close after this is the connection's own end.
    func finish() {
        state.withLock { state in if state == .waiting { state = .done } }
    }
}

/// The `worker_id` of a worker's request body.
struct WorkerField: Decodable {
    var workerID: String
    enum CodingKeys: String, CodingKey { case workerID = "worker_id" }

    static func decode(_ body: Data) throws -> String {
        try APIError.decodeBody(WorkerField.self, from: body, what: "the request").workerID
    }
}

extension OTSRequestContext {
    /// A worker's token acts for its own instance only.
    func acts(for workerID: String) throws {
        guard let principal, let own = principal.workerID else { return }
        guard own == workerID else {
            throw APIError(.forbidden, "worker_id: the token of worker \(own) cannot act for \(workerID)", field: "worker_id")
        }
    }
}
