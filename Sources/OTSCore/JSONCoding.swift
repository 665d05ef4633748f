import Foundation

/// The JSON of OTS's API, events and files: dates as ISO 8601 in UTC with
/// milliseconds, keys as the types name them.
public enum JSONCoding {
    public static func encoder(pretty: Bool = false) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(date.formatted(format))
        }
        encoder.outputFormatting =
            pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            if let date = date(text) { return date }
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "'\(text)' is not an ISO 8601 date")
        }
        return decoder
    }

    static let format = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    /// The date of an ISO 8601 text, with or without fractional seconds.
    static func date(_ text: String) -> Date? {
        if let date = try? format.parse(text) { return date }
        return try? Date.ISO8601FormatStyle().parse(text)
    }

    /// One line of JSON, for storing and logging.
    public static func string(_ value: some Encodable) throws -> String {
        String(decoding: try encoder().encode(value), as: UTF8.self)
    }
}
