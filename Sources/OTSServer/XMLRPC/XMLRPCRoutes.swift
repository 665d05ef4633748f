import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import OTSCore
import OTSHTTP
import OTSStore
import ServiceLifecycle

/// The XML-RPC interface of the original OTS, for `ots_trigger` and the
/// scripts that call `request_sync`: `POST /`, `/xmlrpc/` and `/RPC2`.
///
/// `request_sync(sw_product, request_id, notify_list, options)` submits a
/// testrun and answers when it has ended: `PASS`, `FAIL` or `ERROR`.
/// `latest_logs(seconds)` gives the farm's events of that period as log
/// lines. A call carries a token as its HTTP Basic password (any user
/// name: `http://user:TOKEN@host:port/`), unless `anonymous_submit` opens
/// the interface. Whatever goes wrong is a fault that says what.
struct XMLRPCRoutes: ResourceRoutes {
    let farm: Farm
    let access: AccessPolicy
    let anonymous: Bool
    let authenticator: TokenAuthenticator
    /// The largest call (bytes).
    let maxBytes: Int

    static let paths = ["/", "xmlrpc", "RPC2"]
    static let methods = ["request_sync", "latest_logs"]
    /// The longest period `latest_logs` covers.
    static let maximumLogSeconds = 3600

    func add(to routes: RouteCollection<OTSRequestContext>) {
        // The answer closes the connection: a request_sync's may come
        // hours later, and a client keeps no idle connection that long.
        let calls = routes.group().add(middleware: ClosesConnection()).add(middleware: FaultMiddleware())
        for path in Self.paths {
            calls.post(RouterPath(path)) { request, context in try await answer(request, context: context) }
        }
    }

    func answer(_ request: Request, context: OTSRequestContext) async throws -> Response {
        // A request_sync waits for the testrun's end only while its caller
        // is there: the body is read through the handler that tells.
        let connection = ClaimConnection()
        let value = try await request.body.consumeWithInboundCloseHandler { body in
            defer { connection.finish() }
            let data: Data
            do {
                data = Data(try await body.collect(upTo: maxBytes).readableBytesView)
            } catch {
                throw XMLRPCFault(413, "the call is over the server's limit of \(maxBytes) bytes (max_request_bytes)")
            }
            let call = try XMLRPCCodec.call(from: data)
            switch call.method {
            case "request_sync":
                let principal = try await principal(of: request, needs: .submit)
                return try await requestSync(call.parameters, scope: principal?.scope, connected: { connection.isOpen })
            case "latest_logs":
                _ = try await principal(of: request, needs: .read)
                return try await latestLogs(call.parameters)
            default:
                throw XMLRPCFault(
                    XMLRPCFault.unknownMethod,
                    "no method '\(call.method.prefix(100))' (this server has \(Self.methods.joined(separator: " and ")))")
            }
        } onInboundClosed: {
            if connection.close() { farm.ended.notify() }
        }
        return Self.xml(XMLRPCCodec.response(value))
    }

    /// Submits the original's request and waits for its verdict.
    func requestSync(_ parameters: [XMLRPCValue], scope: TokenScope?, connected: @escaping @Sendable () -> Bool) async throws
        -> XMLRPCValue
    {
        guard parameters.count == 4 else {
            throw XMLRPCFault.parameters(
                "request_sync takes 4 parameters (sw_product, request_id, notify_list, options), not \(parameters.count)")
        }
        let swProduct = try Self.string(parameters[0], "sw_product")
        let requestID = try Self.string(parameters[1], "request_id")
        let notify: [String]
        switch parameters[2] {
        case .array(let items):
            notify = try items.enumerated().map { index, item throws(XMLRPCFault) in try Self.string(item, "notify_list[\(index)]") }
        case .string(let text):
            notify = text.split(separator: ",").map(String.init)
        case .null:
            notify = []
        default:
            throw XMLRPCFault.parameters("notify_list: a list of e-mail addresses, not \(parameters[2].typeName)")
        }
        guard case .structure(let options) = parameters[3] else {
            throw XMLRPCFault.parameters("options: a struct of the original's options, not \(parameters[3].typeName)")
        }
        let original = try OriginalRequest(swProduct: swProduct, requestID: requestID, notify: notify, options: options)
        let view: TestrunView
        do {
            view = try await farm.submit(original.request, scope: scope, notes: original.notes)
        } catch let error as DomainError where error.code == .invalid {
            // The request's fields are the original's options: say which.
            throw XMLRPCFault(400, Self.originalNames(error.message))
        }
        farm.logger.info("request_sync: testrun \(view.id) for \(swProduct) request \(requestID) submitted; waiting for its end")
        // A server asked to stop answers now rather than hold its
        // shutdown for hours; the testrun goes on, for another replica.
        let stopping = ClaimConnection()
        let ended = try await withGracefulShutdownHandler {
            try await farm.waitForEnd(testrunID: view.id, while: { connected() && stopping.isOpen })
        } onGracefulShutdown: { [farm] in
            if stopping.close() { farm.ended.notify() }
        }
        guard let ended else {
            if !stopping.isOpen {
                throw XMLRPCFault(503, "the server is stopping; testrun \(view.id) goes on (ots status \(view.id))")
            }
            farm.logger.info("request_sync: the caller of testrun \(view.id) went away; the testrun goes on")
            throw XMLRPCFault(408, "the caller went away before testrun \(view.id) ended; it goes on")
        }
        return .string((ended.verdict ?? .error).rawValue)
    }

    func latestLogs(_ parameters: [XMLRPCValue]) async throws -> XMLRPCValue {
        guard parameters.count == 1 else {
            throw XMLRPCFault.parameters("latest_logs takes 1 parameter (seconds), not \(parameters.count)")
        }
        let seconds: Int
        switch parameters[0] {
        case .int(let number): seconds = number
        case .string(let text) where Int(text) != nil: seconds = Int(text)!
        default: throw XMLRPCFault.parameters("seconds: a whole number of seconds, not \(parameters[0].typeName)")
        }
        guard (1...Self.maximumLogSeconds).contains(seconds) else {
            throw XMLRPCFault.parameters("seconds: from 1 to \(Self.maximumLogSeconds), not \(seconds)")
        }
        return .array(try await farm.recentEvents(seconds: seconds).map { LogLine($0).value })
    }

    /// Who calls: nil when the interface is open; a fault without a token
    /// that grants `scope`.
    func principal(of request: Request, needs scope: TokenScope) async throws -> Principal? {
        guard access.mode == .tokens, !anonymous else { return nil }
        guard let token = Self.token(of: request) else {
            throw XMLRPCFault(
                401,
                "authorization: this server needs a token: give it as the password of the server's address, "
                    + "http://user:TOKEN@host:port/ (any user name), or open the XML-RPC interface with anonymous_submit = true")
        }
        let principal: Principal
        do {
            principal = try await authenticator.principal(token: token)
        } catch let error as APIError {
            throw XMLRPCFault(error.status.code, error.message)
        }
        guard principal.scope.grants(scope) else {
            throw XMLRPCFault(403, "authorization: token '\(principal.name)' has the \(principal.scope) scope; this call needs \(scope)")
        }
        return principal
    }

    /// The token: the password of HTTP Basic, or a bearer token.
    static func token(of request: Request) -> String? {
        guard let header = request.headers[.authorization] else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2 else { return nil }
        switch parts[0].lowercased() {
        case "basic":
            guard let decoded = Data(base64Encoded: String(parts[1]).trimmingCharacters(in: .whitespaces)),
                let text = String(data: decoded, encoding: .utf8), let colon = text.firstIndex(of: ":")
            else { return nil }
            let password = String(text[text.index(after: colon)...])
            return password.isEmpty ? nil : password
        case "bearer":
            return String(parts[1]).trimmingCharacters(in: .whitespaces)
        default:
            return nil
        }
    }

    static func string(_ value: XMLRPCValue, _ name: String) throws(XMLRPCFault) -> String {
        switch value {
        case .string(let text): return text
        case .int(let number): return String(number)
        case .null: return ""
        default: throw XMLRPCFault.parameters("\(name): a string, not \(value.typeName)")
        }
    }

    /// A refusal of the request in the original's names where they differ.
    static func originalNames(_ message: String) -> String {
        message.replacingOccurrences(of: "packages.device[", with: "packages[")
            .replacingOccurrences(of: "packages.host[", with: "hosttest[")
            .replacingOccurrences(of: "inline_definitions[", with: "testplans[")
            .replacingOccurrences(of: "notify[", with: "notify_list[")
    }

    static func xml(_ text: String) -> Response {
        Response(status: .ok, headers: [.contentType: "text/xml; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
}

/// Answers every error of an XML-RPC call as a fault (HTTP 200, as
/// XML-RPC clients expect): faults as they are, the farm's refusals and the
/// API's errors with the HTTP status they would have had as their code,
/// anything else as an internal fault that leaks nothing.
struct FaultMiddleware: RouterMiddleware {
    typealias Context = OTSRequestContext

    func handle(_ request: Request, context: OTSRequestContext, next: (Request, OTSRequestContext) async throws -> Response)
        async throws -> Response
    {
        do {
            return try await next(request, context)
        } catch let fault as XMLRPCFault {
            return XMLRPCRoutes.xml(XMLRPCCodec.response(fault))
        } catch let error as DomainError {
            let api = APIError(error)
            return XMLRPCRoutes.xml(XMLRPCCodec.response(XMLRPCFault(api.status.code, api.message)))
        } catch let error as APIError {
            return XMLRPCRoutes.xml(XMLRPCCodec.response(XMLRPCFault(error.status.code, error.message)))
        } catch let error as StoreError where error.code == .unavailable {
            context.logger.error("XML-RPC: \(error.message)")
            return XMLRPCRoutes.xml(XMLRPCCodec.response(XMLRPCFault(503, "the database is unavailable; try again shortly")))
        } catch {
            context.logger.error("XML-RPC call failed: \(error)")
            return XMLRPCRoutes.xml(XMLRPCCodec.response(XMLRPCFault(-32603, "the server failed to handle the call; see its log")))
        }
    }
}
