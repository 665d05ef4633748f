import Foundation

extension DecodingError {
    /// The path of the field at fault, as a request names it:
    /// `packages[0].name`; for a missing field, its own name is last.
    /// Empty when the whole document is at fault (not valid JSON).
    public var fieldPath: String {
        switch self {
        case .keyNotFound(let key, let context): Self.fieldPath(context.codingPath + [key])
        case .valueNotFound(_, let context), .typeMismatch(_, let context), .dataCorrupted(let context):
            Self.fieldPath(context.codingPath)
        @unknown default: ""
        }
    }

    /// What is wrong with the field: `required`, `must be a string, not
    /// null`, `must be an integer`, or the decoder's own words.
    public var fieldProblem: String {
        switch self {
        case .keyNotFound: "required"
        case .valueNotFound(let type, _): "must be \(Self.kind(of: type)), not null"
        case .typeMismatch(let type, _): "must be \(Self.kind(of: type))"
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty {
                "not valid JSON"
                    + (((context.underlyingError as? NSError)?.userInfo[NSDebugDescriptionErrorKey] as? String).map { " (\($0))" } ?? "")
            } else {
                context.debugDescription
            }
        @unknown default: "cannot be read"
        }
    }

    /// `a.b[2].c` from coding keys.
    public static func fieldPath(_ keys: [any CodingKey]) -> String {
        var text = ""
        for key in keys {
            if let index = key.intValue {
                text += "[\(index)]"
            } else {
                text += (text.isEmpty ? "" : ".") + key.stringValue
            }
        }
        return text
    }

    /// The JSON kind a Swift type is read from: `a string`, `an integer`.
    public static func kind(of type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Int32.Type, is Int64.Type: "an integer"
        case is Double.Type: "a number"
        case is Bool.Type: "true or false"
        case is [Any].Type: "an array"
        // A keyed container reports a dictionary type: a JSON object.
        case _ where String(describing: type).hasPrefix("Dictionary<"): "an object"
        default: type is any Collection.Type ? "an array" : "an object"
        }
    }
}
