import Foundation
import HTTPTypes
import Hummingbird
import Logging
import OTSCore
import OTSStore

/// A request the server refuses, or a failure it reports: what happened,
/// the field at fault where there is one, and the HTTP status it maps to.
public struct APIError: Error, Sendable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        enum Base: String, Sendable, Hashable {
            case badRequest = "bad_request"
            case unauthorized
            case forbidden
            case notFound = "not_found"
            case conflict
            case tooLarge = "too_large"
            case unavailable
            case internalError = "internal"
        }

        let base: Base

        /// The request is wrong; `field` names where.
        public static let badRequest = Code(base: .badRequest)
        /// No or a wrong token.
        public static let unauthorized = Code(base: .unauthorized)
        /// A token that may not do this (its scope, or another worker's task).
        public static let forbidden = Code(base: .forbidden)
        public static let notFound = Code(base: .notFound)
        /// Not possible in the current state (the task is held by another
        /// worker, the testrun has ended).
        public static let conflict = Code(base: .conflict)
        public static let tooLarge = Code(base: .tooLarge)
        /// The store cannot be reached; try again.
        public static let unavailable = Code(base: .unavailable)
        public static let internalError = Code(base: .internalError)

        public var description: String { base.rawValue }

        var status: HTTPResponse.Status {
            switch base {
            case .badRequest: .badRequest
            case .unauthorized: .unauthorized
            case .forbidden: .forbidden
            case .notFound: .notFound
            case .conflict: .conflict
            case .tooLarge: .contentTooLarge
            case .unavailable: .serviceUnavailable
            case .internalError: .internalServerError
            }
        }
    }

    public var code: Code
    public var message: String
    public var field: String?

    public init(_ code: Code, _ message: String, field: String? = nil) {
        self.code = code
        self.message = message
        self.field = field
    }

    /// A refusal of the domain as its HTTP answer.
    public init(_ error: DomainError) {
        let code: Code =
            switch error.code {
            case .invalid: .badRequest
            case .forbidden: .forbidden
            case .notFound: .notFound
            case .conflict: .conflict
            case .internalError: .internalError
            }
        self.init(code, error.message, field: error.field)
    }

    public var description: String { message }

    public var problem: APIProblem { APIProblem(error: code.description, message: message, field: field) }

    /// Decodes a request body, or throws the error that names its field.
    public static func decodeBody<Value: Decodable>(_ type: Value.Type, from body: Data, what: String) throws(APIError) -> Value {
        do {
            return try JSONCoding.decoder().decode(type, from: body)
        } catch {
            if case .dataCorrupted(let context) = error as? DecodingError, context.codingPath.isEmpty,
                let json = try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed])
            {
                throw numberOutOfRange(in: json, what: what)
            }
            throw decoding(error, what: what)
        }
    }

    /// Foundation's decoder on Linux reports a number that does not fit
    /// its integer field (too large, or with a fraction) as JSON that is
    /// not valid, without the field: name the numbers that could be it.
    static func numberOutOfRange(in json: Any, what: String) -> APIError {
        var suspects: [String] = []
        func walk(_ value: Any, _ path: String) {
            switch value {
            case let object as [String: Any]:
                for key in object.keys.sorted() { walk(object[key]!, path.isEmpty ? key : path + "." + key) }
            case let array as [Any]:
                for (index, item) in array.enumerated() { walk(item, path + "[\(index)]") }
            case let number as NSNumber:
                let double = number.doubleValue
                if double != double.rounded() || double >= 9.2e18 || double <= -9.2e18 || number.stringValue.contains("e") {
                    suspects.append(path)
                }
            default:
                break
            }
        }
        walk(json, "")
        let range = "a whole number from -9223372036854775808 to 9223372036854775807"
        if suspects.count == 1, let field = suspects.first, !field.isEmpty {
            return APIError(.badRequest, "\(field): must be \(range)", field: field)
        }
        let named = suspects.isEmpty ? "" : " (\(suspects.prefix(5).joined(separator: ", ")))"
        return APIError(.badRequest, "body: a number in \(what) does not fit its field\(named): it must be \(range)", field: "body")
    }

    /// A request body that did not decode, named by the path of the field at
    /// fault.
    public static func decoding(_ error: any Error, what: String) -> APIError {
        guard let error = error as? DecodingError else {
            return APIError(.badRequest, "body: \(what) is not valid JSON: \(error)", field: "body")
        }
        let field = error.fieldPath
        switch error {
        case .keyNotFound:
            return APIError(.badRequest, "\(field): \(error.fieldProblem), missing from \(what)", field: field)
        case _ where field.isEmpty:
            // The whole body: not JSON, or not an object.
            if case .dataCorrupted = error { return APIError(.badRequest, "body: \(what) is \(error.fieldProblem)", field: "body") }
            return APIError(.badRequest, "\(what): \(error.fieldProblem)", field: "body")
        default:
            return APIError(.badRequest, "\(field): \(error.fieldProblem)", field: field)
        }
    }
}

extension APIError: HTTPResponseError {
    public var status: HTTPResponse.Status { code.status }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        try JSONResponse.make(problem, status: status)
    }
}

/// Responses with OTS's JSON.
public enum JSONResponse {
    public static func make(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try JSONCoding.encoder().encode(value)
        return Response(
            status: status,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data))
        )
    }
}

/// Turns every error a handler throws into one JSON answer: the one place
/// where errors become status codes. API errors as they say, the domain's
/// refusals by their code, anything else as a 500 that does not leak internals. A 503
/// (the database is away) says when to try again (`Retry-After`).
public struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The `Retry-After` of a 503, in whole seconds (at least 1).
    let retryAfter: String

    public init(retryAfterSeconds: Double = 5) {
        retryAfter = String(max(1, Int(retryAfterSeconds.rounded(.up))))
    }

    private func unavailable(_ problem: APIProblem) throws -> Response {
        var response = try JSONResponse.make(problem, status: .serviceUnavailable)
        response.headers[.retryAfter] = retryAfter
        return response
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            do {
                return try await next(request, context)
            } catch let error as DomainError {
                throw APIError(error)
            }
        } catch let error as APIError {
            if error.code == .internalError || error.code == .unavailable {
                context.logger.error("\(request.method) \(request.uri.path): \(error.message)")
            }
            if error.code == .unavailable { return try unavailable(error.problem) }
            return try JSONResponse.make(error.problem, status: error.status)
        } catch let error as StoreError where error.code == .unavailable {
            // The database is away (restarting, say): worth trying again.
            context.logger.error("\(request.method) \(request.uri.path): \(error.message)")
            return try unavailable(APIError(.unavailable, "the database is unavailable; try again shortly").problem)
        } catch let error as HTTPError {
            let problem = APIProblem(
                error: error.status == .notFound ? "not_found" : "http", message: error.body ?? error.status.reasonPhrase)
            return try JSONResponse.make(problem, status: error.status)
        } catch {
            context.logger.error("\(request.method) \(request.uri.path) failed: \(error)")
            return try JSONResponse.make(
                APIProblem(error: "internal", message: "the server failed to handle the request; see its log"), status: .internalServerError
            )
        }
    }
}
