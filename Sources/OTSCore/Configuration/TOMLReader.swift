import Foundation
import TOMLKit

/// Reads typed keys from a TOML table, naming the key and file on error,
/// and remembers which keys it read so that unknown ones are reported.
public struct TOMLReader {
    public let table: TOMLTable
    let file: String
    let prefix: String
    public var read: Set<String> = []

    public init(table: TOMLTable, file: String, prefix: String = "") {
        self.table = table
        self.file = file
        self.prefix = prefix
    }

    public func error(_ key: String, _ message: String) -> ConfigurationError {
        ConfigurationError(file: file, "\(prefix)\(key): \(message)")
    }

    public mutating func string(_ key: String) throws(ConfigurationError) -> String? {
        read.insert(key)
        guard let value = table[key] else { return nil }
        guard let string = value.string else { throw error(key, "must be a string") }
        return string
    }

    public mutating func int(_ key: String, in range: ClosedRange<Int>) throws(ConfigurationError) -> Int? {
        read.insert(key)
        guard let value = table[key] else { return nil }
        guard let int = value.int else { throw error(key, "must be an integer") }
        guard range.contains(int) else { throw error(key, "must be from \(range.lowerBound) to \(range.upperBound), not \(int)") }
        return int
    }

    /// A number (integer or fraction) in `range`.
    public mutating func number(_ key: String, in range: ClosedRange<Double>) throws(ConfigurationError) -> Double? {
        read.insert(key)
        guard let value = table[key] else { return nil }
        guard let number = value.double ?? value.int.map(Double.init) else { throw error(key, "must be a number") }
        guard range.contains(number) else { throw error(key, "must be from \(range.lowerBound) to \(range.upperBound), not \(number)") }
        return number
    }

    /// A positive number of seconds (integer or fraction).
    public mutating func seconds(_ key: String) throws(ConfigurationError) -> Double? {
        read.insert(key)
        guard let value = table[key] else { return nil }
        guard let number = value.double ?? value.int.map(Double.init) else { throw error(key, "must be a number of seconds") }
        guard number >= 0, number <= 30 * 86_400 else { throw error(key, "must be from 0 to 2592000 seconds, not \(number)") }
        return number
    }

    /// `db_unavailable_seconds`: how long a request waits for a database
    /// connection; at least 0.1 s.
    public mutating func dbUnavailableSeconds() throws(ConfigurationError) -> Double? {
        guard let seconds = try seconds("db_unavailable_seconds") else { return nil }
        guard seconds >= 0.1 else { throw error("db_unavailable_seconds", "must be at least 0.1 seconds, not \(seconds)") }
        return seconds
    }

    public mutating func bool(_ key: String) throws(ConfigurationError) -> Bool? {
        read.insert(key)
        guard let value = table[key] else { return nil }
        guard let bool = value.bool else { throw error(key, "must be true or false") }
        return bool
    }

    public mutating func strings(_ key: String) throws(ConfigurationError) -> [String]? {
        try array(key, of: "strings") { $0.string }
    }

    public mutating func ints(_ key: String) throws(ConfigurationError) -> [Int]? {
        try array(key, of: "integers") { $0.int }
    }

    /// An array whose every item `element` can read.
    mutating func array<Element>(_ key: String, of what: String, _ element: (any TOMLValueConvertible) -> Element?)
        throws(ConfigurationError) -> [Element]?
    {
        read.insert(key)
        guard let value = table[key] else { return nil }
        guard let array = value.array else { throw error(key, "must be an array of \(what)") }
        var elements: [Element] = []
        for item in array {
            guard let converted = element(item) else { throw error(key, "must be an array of \(what)") }
            elements.append(converted)
        }
        return elements
    }

    public mutating func table(_ key: String) throws(ConfigurationError) -> TOMLTable? {
        read.insert(key)
        guard let value = table[key] else { return nil }
        guard let table = value.table else { throw error(key, "must be a table") }
        return table
    }

    /// The tables of a table (`[key.NAME]`), by name in order, each as a
    /// reader naming its keys `key.NAME.`.
    public mutating func namedTables(_ key: String) throws(ConfigurationError) -> [(name: String, reader: TOMLReader)]? {
        guard let outer = try table(key) else { return nil }
        var tables: [(name: String, reader: TOMLReader)] = []
        for name in outer.keys.sorted() {
            guard let inner = outer[name]?.table else { throw error("\(key).\(name)", "must be a table") }
            tables.append((name, nested(inner, prefix: "\(key).\(name).")))
        }
        return tables
    }

    public mutating func tables(_ key: String) throws(ConfigurationError) -> [TOMLTable]? {
        try array(key, of: "tables ([[\(prefix)\(key)]])") { $0.table }
    }

    /// Throws for the first key no one read: a typo should not pass silently.
    public func rejectUnknownKeys() throws(ConfigurationError) {
        if let unknown = table.keys.sorted().first(where: { !read.contains($0) }) {
            throw ConfigurationError(file: file, "unknown key '\(prefix)\(unknown)' (known: \(read.sorted().joined(separator: ", ")))")
        }
    }
}

extension TOMLReader {
    /// Parses a TOML file into a reader over its top table.
    public static func open(file path: String) throws(ConfigurationError) -> TOMLReader {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError(file: path, "cannot read it: \(error.localizedDescription)")
        }
        do {
            return TOMLReader(table: try TOMLTable(string: text), file: path)
        } catch let error as TOMLParseError {
            throw ConfigurationError(file: path, line: error.source.begin.line, error.description)
        } catch {
            throw ConfigurationError(file: path, "\(error)")
        }
    }

    /// A reader over a nested table, naming its keys with `prefix`.
    public func nested(_ table: TOMLTable, prefix: String) -> TOMLReader {
        TOMLReader(table: table, file: file, prefix: self.prefix + prefix)
    }
}
