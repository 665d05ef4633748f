import Logging
import OTSCore

/// Writes every log message as one line: control characters in the message
/// and in metadata values (a worker's host name, an event's type, anything
/// a client sent) are written as escapes, so that no value can split a log
/// line or forge one.
struct LineSafeLogHandler: LogHandler {
    var base: StreamLogHandler

    var logLevel: Logger.Level {
        get { base.logLevel }
        set { base.logLevel = newValue }
    }

    var metadata: Logger.Metadata {
        get { base.metadata }
        set { base.metadata = newValue }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { base.metadataProvider }
        set { base.metadataProvider = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { base[metadataKey: key] }
        set { base[metadataKey: key] = newValue }
    }

    func log(
        level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String, function: String,
        line: UInt
    ) {
        base.log(
            level: level, message: "\(message.description.logSafe)", metadata: metadata.map(Self.safe), source: source, file: file,
            function: function, line: line)
    }

    static func safe(_ metadata: Logger.Metadata) -> Logger.Metadata {
        metadata.mapValues(safe)
    }

    static func safe(_ value: Logger.Metadata.Value) -> Logger.Metadata.Value {
        switch value {
        case .string(let text): .string(text.logSafe)
        case .stringConvertible(let value): .string(value.description.logSafe)
        case .dictionary(let dictionary): .dictionary(safe(dictionary))
        case .array(let array): .array(array.map(safe))
        }
    }
}
