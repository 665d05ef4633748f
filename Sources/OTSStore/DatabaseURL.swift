import Foundation
import OTSCore

/// Where the store lives, named by URL:
/// `sqlite:///path/to/ots.sqlite` (a file on this machine) or
/// `postgres://user:password@host:port/database` (a farm of machines).
public enum DatabaseURL: Sendable, Hashable, CustomStringConvertible {
    case sqlite(path: String)
    case postgres(url: String)

    /// The embedded default: `./ots-data/ots.sqlite`.
    public static let defaultURL = DatabaseURL.sqlite(path: "ots-data/ots.sqlite")

    public init(parsing text: String) throws(StoreError) {
        if text.hasPrefix("sqlite://") {
            let path = String(text.dropFirst("sqlite://".count))
            guard !path.isEmpty, path != "/" else {
                throw StoreError(.invalidURL, "database URL '\(text)' names no file (use sqlite:///path/to/ots.sqlite)")
            }
            // sqlite:///abs/path keeps its leading slash; sqlite://rel/path is relative.
            self = .sqlite(path: path)
            return
        }
        if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            guard let components = URLComponents(string: text), let host = components.host, !host.isEmpty else {
                throw StoreError(
                    .invalidURL, "database URL '\(Self.redacted(text))' has no host (use postgres://user:password@host:port/database)")
            }
            self = .postgres(url: text)
            return
        }
        throw StoreError(
            .invalidURL, "database URL '\(Self.redacted(text))' is neither sqlite:///path nor postgres://user:password@host:port/database")
    }

    /// The URL with any password hidden, for messages and logs.
    public var description: String {
        switch self {
        case .sqlite(let path): "sqlite://" + path
        case .postgres(let url): Self.redacted(url)
        }
    }

    static func redacted(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.password != nil else { return url }
        components.password = "***"
        return components.string ?? url
    }
}

extension DatabaseURL {
    /// A database named in a configuration file or variable; an error names
    /// where it came from.
    public init(configured text: String, in source: String) throws(ConfigurationError) {
        do {
            self = try DatabaseURL(parsing: text)
        } catch {
            throw ConfigurationError(file: source, "database: \(error.message)")
        }
    }
}
