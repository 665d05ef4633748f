import ArgumentParser
import OTSStore

/// Parses `--database`, turning a bad URL into a usage error that names it
/// (for the benchmarks and the commands of `ots` alike).
public func parseDatabaseURL(_ text: String) throws -> DatabaseURL {
    do {
        return try DatabaseURL(parsing: text)
    } catch {
        throw ValidationError("--database: \(error.message)")
    }
}
