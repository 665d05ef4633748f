/// A value of XML-RPC (the types of its specification, and `nil`, which
/// Python's client sends with `allow_none`).
enum XMLRPCValue: Sendable, Hashable {
    case int(Int)
    case bool(Bool)
    case string(String)
    case double(Double)
    /// `dateTime.iso8601`, as written.
    case dateTime(String)
    case base64([UInt8])
    case array([XMLRPCValue])
    case structure([String: XMLRPCValue])
    case null

    /// The type's name, as a fault names it.
    var typeName: String {
        switch self {
        case .int: "int"
        case .bool: "boolean"
        case .string: "string"
        case .double: "double"
        case .dateTime: "dateTime.iso8601"
        case .base64: "base64"
        case .array: "array"
        case .structure: "struct"
        case .null: "nil"
        }
    }
}

/// A method call: its name and parameters.
struct XMLRPCCall: Sendable, Hashable {
    var method: String
    var parameters: [XMLRPCValue]
}

/// An XML-RPC fault: what the caller gets instead of an answer. Its codes
/// are those of the specification for fault code interoperability for
/// calls that are not XML-RPC, and the REST API's HTTP status codes for
/// refusals of the request itself (400, 401, 403, 404, 409, 503).
struct XMLRPCFault: Error, Sendable, Hashable, CustomStringConvertible {
    var code: Int
    var message: String

    init(_ code: Int, _ message: String) {
        self.code = code
        self.message = message
    }

    static let parseError = -32700
    static let invalidRequest = -32600
    static let unknownMethod = -32601
    static let invalidParameters = -32602

    static func parse(_ message: String) -> XMLRPCFault { XMLRPCFault(parseError, message) }
    static func invalid(_ message: String) -> XMLRPCFault { XMLRPCFault(invalidRequest, message) }
    static func parameters(_ message: String) -> XMLRPCFault { XMLRPCFault(invalidParameters, message) }

    var description: String { "fault \(code): \(message)" }
}
