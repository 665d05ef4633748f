import Foundation
import HTTPTypes
import Hummingbird
import OTSCore
import OTSHTTP
import OTSStore
import Synchronization
import TestDefinition

/// The REST API under `/api/v1` (see `openapi.json`): one route collection
/// per resource. The routes decode what a request carries (its body, its
/// query) and check who may send it; the farm takes the decoded values and
/// throws the domain's refusals, which `ErrorMiddleware` answers.
struct APIRoutes {
    let farm: Farm
    let access: AccessPolicy
    let enrollmentSecret: String?
    let authenticator: TokenAuthenticator

    func register(on router: Router<OTSRequestContext>) {
        let api = router.apiGroup(document: Array(OpenAPIDocument.data))
        let context = RouteContext(
            farm: farm, access: access, authenticator: authenticator,
            bodies: RequestBodies(
                request: farm.configuration.maxRequestBytes, results: farm.configuration.maxResultsBytes,
                file: farm.configuration.maxFileBytes))
        api.addRoutes(TestrunRoutes(context: context).collection, atPath: "testruns")
        api.addRoutes(TokenRoutes(context: context).collection, atPath: "tokens")
        api.addRoutes(WorkerRoutes(context: context, enrollmentSecret: enrollmentSecret).collection, atPath: "workers")
        api.addRoutes(TaskRoutes(context: context).collection, atPath: "tasks")
        api.addRoutes(EventRoutes(context: context).collection, atPath: "events")
        api.addRoutes(DeviceRoutes(context: context).collection, atPath: "devices")
    }
}

/// What every resource's routes share: the farm, and who may call them.
struct RouteContext {
    let farm: Farm
    let access: AccessPolicy
    let authenticator: TokenAuthenticator
    let bodies: RequestBodies

    /// A group of the collection whose routes need `scope`.
    func group(_ routes: RouteCollection<OTSRequestContext>, _ scope: TokenScope) -> RouterGroup<OTSRequestContext> {
        routes.group().add(middleware: AccessMiddleware(scope, policy: access, authenticator: authenticator))
    }
}

/// Request bodies within their limits, decoded or refused naming the field.
struct RequestBodies {
    let request: Int
    let results: Int
    let file: Int

    /// The body, refused with the limit named when it is over.
    func data(_ body: RequestBody, limit: Int? = nil, what: String = "request body", key: String = "max_request_bytes") async throws
        -> Data
    {
        let limit = limit ?? request
        do {
            let buffer = try await body.collect(upTo: limit)
            return Data(buffer.readableBytesView)
        } catch {
            throw APIError(.tooLarge, "body: the \(what) is over the server's limit of \(limit) bytes (\(key))", field: "body")
        }
    }

    /// The JSON body as `type`.
    func decode<Value: Decodable>(_ type: Value.Type, _ request: Request, what: String) async throws -> Value {
        try APIError.decodeBody(type, from: try await data(request.body), what: what)
    }

    static func required(_ query: Parameters, _ name: String) throws -> String {
        guard let value = query.get(name), !value.isEmpty else {
            throw APIError(.badRequest, "\(name): required query parameter is missing", field: name)
        }
        return value
    }
}

/// `/testruns`: submit, list, show and cancel testruns; their results and
/// fetched files.
struct TestrunRoutes: ResourceRoutes {
    let context: RouteContext

    func add(to routes: RouteCollection<OTSRequestContext>) {
        let (farm, bodies) = (context.farm, context.bodies)
        let read = context.group(routes, .read)
        let submit = context.group(routes, .submit)
        submit.post { request, context in
            let testrun = try await bodies.decode(TestrunRequest.self, request, what: "the testrun request")
            return try JSONResponse.make(try await farm.submit(testrun, scope: context.principal?.scope), status: .created)
        }
        read.get { request, _ in
            let query = request.uri.queryParameters
            var filter = TestrunFilter()
            if let state = query.get("state") {
                guard let value = TestrunState(rawValue: state) else {
                    throw APIError(.badRequest, "state: must be queued, running, finished or cancelled", field: "state")
                }
                filter.state = value
            }
            filter.deviceGroup = query.get("devicegroup")
            filter.requestor = query.get("requestor")
            if let limit = query.get("limit") {
                guard let value = Int(limit), (1...1000).contains(value) else {
                    throw APIError(.badRequest, "limit: must be an integer from 1 to 1000", field: "limit")
                }
                filter.limit = value
            }
            return try JSONResponse.make(try await farm.testruns(filter))
        }
        read.get(":id") { _, context in
            try JSONResponse.make(try await farm.testrun(id: try context.parameters.require("id")))
        }
        submit.post(":id/cancel") { _, context in
            try JSONResponse.make(try await farm.cancel(id: try context.parameters.require("id")))
        }
        read.get(":id/results") { request, context in
            let format = request.uri.queryParameters.get("format") ?? "xml"
            guard let kind = Farm.ResultsFormat(rawValue: format) else {
                throw APIError(.badRequest, "format: must be xml or junit, not '\(format.prefix(50))'", field: "format")
            }
            let xml = try await farm.results(testrunID: try context.parameters.require("id"), format: kind)
            return Response(
                status: .ok, headers: [.contentType: "application/xml; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: xml)))
        }
        read.get(":id/files") { _, context in
            try JSONResponse.make(try await farm.files(testrunID: try context.parameters.require("id")))
        }
        read.get(":id/files/content") { request, context in
            let query = request.uri.queryParameters
            let content = try await farm.fileContent(
                testrunID: try context.parameters.require("id"), taskID: try RequestBodies.required(query, "task"),
                package: try RequestBodies.required(query, "package"), name: try RequestBodies.required(query, "name"))
            return Response(
                status: .ok, headers: [.contentType: "application/octet-stream"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: content)))
        }
    }
}

/// `/tokens`: an admin's list, new tokens and revocations.
struct TokenRoutes: ResourceRoutes {
    let context: RouteContext

    func add(to routes: RouteCollection<OTSRequestContext>) {
        let (farm, bodies, authenticator) = (context.farm, context.bodies, context.authenticator)
        let admin = context.group(routes, .admin)
        admin.get { _, _ in try JSONResponse.make(try await farm.tokens()) }
        admin.post { request, _ in
            let wanted = try await bodies.decode(TokenRequest.self, request, what: "the token request")
            if let problem = wanted.problem { throw APIError(.badRequest, "\(problem.field): \(problem.message)", field: problem.field) }
            return try JSONResponse.make(try await farm.createToken(wanted), status: .created)
        }
        admin.delete(":id") { _, context in
            let id = try context.parameters.require("id")
            try await farm.revokeToken(id: id)
            authenticator.forget(tokenID: id)
            return try JSONResponse.make(["revoked": true])
        }
    }
}

/// `/workers`: enrollment, heartbeats, the offline notice and claims.
struct WorkerRoutes: ResourceRoutes {
    let context: RouteContext
    let enrollmentSecret: String?

    func add(to routes: RouteCollection<OTSRequestContext>) {
        let (farm, bodies, access) = (context.farm, context.bodies, context.access)
        routes.post { request, _ in
            try enrolled(request)
            let registration = try await bodies.decode(WorkerRegistration.self, request, what: "the registration")
            var registered = try await farm.register(registration)
            if access.mode == .tokens { registered.token = try await farm.issueWorkerToken(workerID: registered.workerID) }
            return try JSONResponse.make(registered, status: .created)
        }
        let workers = context.group(routes, .worker)
        workers.post("heartbeat") { request, context in
            let heartbeat = try await bodies.decode(Heartbeat.self, request, what: "the heartbeat")
            try context.acts(for: heartbeat.workerID)
            return try JSONResponse.make(try await farm.heartbeat(heartbeat))
        }
        workers.post("offline") { request, context in
            let notice = try await bodies.decode(WorkerField.self, request, what: "the offline notice")
            try context.acts(for: notice.workerID)
            try await farm.offline(workerID: notice.workerID)
            return try JSONResponse.make(["offline": true])
        }
        // Watching for the close ends the connection after the answer: the
        // answer says so, so that the worker opens a new one for what follows.
        let claims = workers.group().add(middleware: ClosesConnection())
        claims.post("claim") { request, context in
            // A claim whose worker has gone (its connection closed) is not
            // granted: the body is read through the handler that tells.
            let connection = ClaimConnection()
            let assignment = try await request.body.consumeWithInboundCloseHandler { body in
                defer { connection.finish() }
                let claim = try APIError.decodeBody(ClaimRequest.self, from: try await bodies.data(body), what: "the claim")
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
    }

    /// A registration must carry the enrollment secret.
    private func enrolled(_ request: Request) throws {
        guard context.access.mode == .tokens else { return }
        guard let header = request.headers[.authorization] else {
            throw APIError(
                .unauthorized, "authorization: a worker enrolls with the farm's enrollment secret (Authorization: Bearer SECRET)")
        }
        guard let secret = enrollmentSecret, APIToken.constantTimeEqual(header, "Bearer \(secret)") else {
            throw APIError(.unauthorized, "authorization: wrong enrollment secret")
        }
    }
}

/// `/tasks/{id}`: what a worker reports about the task it holds: results,
/// fetched files, the sets it starts, and its end.
struct TaskRoutes: ResourceRoutes {
    let context: RouteContext

    func add(to routes: RouteCollection<OTSRequestContext>) {
        let (farm, bodies) = (context.farm, context.bodies)
        let workers = context.group(routes, .worker)
        workers.put(":id/results") { request, context in
            let query = request.uri.queryParameters
            let worker = try RequestBodies.required(query, "worker")
            try context.acts(for: worker)
            let stored = try await farm.saveResults(
                taskID: try context.parameters.require("id"), workerID: worker,
                package: try RequestBodies.required(query, "package"),
                xml: try await bodies.data(request.body, limit: bodies.results, what: "results", key: "max_results_bytes"))
            return try JSONResponse.make(["stored": stored])
        }
        workers.put(":id/files") { request, context in
            let query = request.uri.queryParameters
            let worker = try RequestBodies.required(query, "worker")
            try context.acts(for: worker)
            let stored = try await farm.saveFile(
                taskID: try context.parameters.require("id"), workerID: worker,
                package: try RequestBodies.required(query, "package"), name: try RequestBodies.required(query, "name"),
                content: [UInt8](try await bodies.data(request.body, limit: bodies.file, what: "file", key: "max_file_bytes")))
            return try JSONResponse.make(["stored": stored])
        }
        workers.post(":id/sets") { request, context in
            let start = try await bodies.decode(SetStart.self, request, what: "the set start")
            try context.acts(for: start.workerID)
            return try JSONResponse.make(try await farm.startSet(taskID: try context.parameters.require("id"), start))
        }
        workers.post(":id/finish") { request, context in
            let finish = try await bodies.decode(TaskFinish.self, request, what: "the finish report")
            try context.acts(for: finish.workerID)
            try await farm.finish(taskID: try context.parameters.require("id"), finish)
            return try JSONResponse.make(["finished": true])
        }
    }
}

/// `/events`: a worker's batch of monitor events.
struct EventRoutes: ResourceRoutes {
    let context: RouteContext

    func add(to routes: RouteCollection<OTSRequestContext>) {
        let (farm, bodies) = (context.farm, context.bodies)
        context.group(routes, .worker).post { request, context in
            // Read directly where it can be (events are the bulk), else by
            // JSONDecoder, whose errors name the field.
            let data = try await bodies.data(request.body)
            let batch = try EventBatch.fromJSON(data) ?? APIError.decodeBody(EventBatch.self, from: data, what: "the event batch")
            return try JSONResponse.make(try await farm.receive(batch, from: context.principal?.workerID))
        }
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

/// Whether a waiting request's connection is still open: a claim is
/// granted, and a `request_sync` waits, only while it is.
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

/// The `worker_id` of a worker's request body (the offline notice).
struct WorkerField: Decodable {
    var workerID: String
    enum CodingKeys: String, CodingKey { case workerID = "worker_id" }
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
