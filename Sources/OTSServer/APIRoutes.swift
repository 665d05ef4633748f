import Foundation
import HTTPTypes
import Hummingbird
import OTSCore
import OTSHTTP
import OTSStore
import TestDefinition

/// The REST API under `/api/v1` (see `openapi.json`).
struct APIRoutes {
    let farm: Farm
    let token: String?

    /// Request bodies larger than this are refused.
    static let maxBody = 32 * 1024 * 1024

    func register(on router: Router<BasicRequestContext>) {
        let api = router.group("api/v1")
        api.get("health") { _, _ in try JSONResponse.make(["status": "ok", "version": OTSVersion.current]) }
        api.get("openapi.json") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: OpenAPIDocument.data)))
        }

        api.post("testruns") { request, _ in
            try JSONResponse.make(try await farm.submit(try await body(request)), status: .created)
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
        api.post("testruns/:id/cancel") { _, context in
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

        let workers = api.group().add(middleware: TokenMiddleware(token: token))
        workers.post("workers") { request, _ in
            try JSONResponse.make(try await farm.register(try await body(request)), status: .created)
        }
        workers.post("workers/heartbeat") { request, _ in
            try JSONResponse.make(try await farm.heartbeat(try await body(request)))
        }
        workers.post("workers/offline") { request, _ in
            try await farm.offline(try await body(request))
            return try JSONResponse.make(["offline": true])
        }
        workers.post("workers/claim") { request, _ in
            let claim = try APIError.decodeBody(ClaimRequest.self, from: try await body(request), what: "the claim")
            let wait = min(max(claim.waitSeconds ?? farm.configuration.claimWait, 0), farm.configuration.claimWait)
            guard let assignment = try await farm.claim(workerID: claim.workerID, wait: .milliseconds(Int64(wait * 1000))) else {
                return Response(status: .noContent)
            }
            return try JSONResponse.make(assignment)
        }
        workers.post("events") { request, _ in
            try JSONResponse.make(try await farm.receive(try await body(request)))
        }
        workers.put("tasks/:id/results") { request, context in
            let query = request.uri.queryParameters
            let stored = try await farm.saveResults(
                taskID: try context.parameters.require("id"), workerID: try required(query, "worker"),
                package: try required(query, "package"), xml: try await body(request))
            return try JSONResponse.make(["stored": stored])
        }
        workers.put("tasks/:id/files") { request, context in
            let query = request.uri.queryParameters
            let stored = try await farm.saveFile(
                taskID: try context.parameters.require("id"), workerID: try required(query, "worker"),
                package: try required(query, "package"), name: try required(query, "name"),
                content: [UInt8](try await body(request)))
            return try JSONResponse.make(["stored": stored])
        }
        workers.post("tasks/:id/sets") { request, context in
            try JSONResponse.make(try await farm.startSet(taskID: try context.parameters.require("id"), try await body(request)))
        }
        workers.post("tasks/:id/finish") { request, context in
            try await farm.finish(taskID: try context.parameters.require("id"), try await body(request))
            return try JSONResponse.make(["finished": true])
        }
    }

    private func body(_ request: Request) async throws -> Data {
        var request = request
        do {
            let buffer = try await request.collectBody(upTo: Self.maxBody)
            return Data(buffer.readableBytesView)
        } catch {
            throw APIError(.tooLarge, "body: larger than \(Self.maxBody / 1024 / 1024) MiB", field: "body")
        }
    }

    private func required(_ query: Parameters, _ name: String) throws -> String {
        guard let value = query.get(name), !value.isEmpty else {
            throw APIError(.badRequest, "\(name): required query parameter is missing", field: name)
        }
        return value
    }
}

/// Lets only workers that send the farm's token through.
struct TokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: String?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let token {
            let given = request.headers[.authorization]
            guard given == "Bearer \(token)" else {
                throw APIError(
                    .unauthorized, given == nil ? "authorization: this server needs a worker token" : "authorization: wrong token")
            }
        }
        return try await next(request, context)
    }
}
