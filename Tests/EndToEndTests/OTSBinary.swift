import Foundation
import Subprocess
import SystemPackage

/// The built `ots` executable, run as a real process.
///
/// `./scripts/test.sh` passes its path in OTS_BINARY; a bare `swift test`
/// finds it in the debug build folder.
enum OTSBinary {
    static var path: String {
        if let path = ProcessInfo.processInfo.environment["OTS_BINARY"] {
            return path
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.path + "/.build/debug/ots"
    }

    static var repositoryRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    /// Process ids of `ots run` processes of this binary working in `folder`.
    static func pids(in folder: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { pid in
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            let words = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            let cwd = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd")
            return words.first == path && words.dropFirst().first == "run" && cwd == folder
        }
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs `ots` with the arguments in a folder and collects what it
    /// printed; `environment` is added to the inherited variables.
    static func run(_ arguments: [String], in folder: String, environment: [String: String] = [:]) async throws -> Result {
        var updates: [Environment.Key: String?] = [:]
        for (key, value) in environment { updates[Environment.Key(stringLiteral: key)] = value }
        let result = try await Subprocess.run(
            .path(FilePath(path)),
            arguments: Arguments(arguments),
            environment: updates.isEmpty ? .inherit : .inherit.updating(updates),
            workingDirectory: FilePath(folder),
            input: .none,
            output: .string(limit: 16 * 1024 * 1024),
            error: .string(limit: 16 * 1024 * 1024)
        )
        let status: Int32
        switch result.terminationStatus {
        case .exited(let code): status = code
        case .signaled(let signal): status = 128 + signal
        }
        return Result(status: status, stdout: result.standardOutput, stderr: result.standardError)
    }
}

/// A folder that exists for the life of a test.
final class Workspace: Sendable {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.path + "/ots-e2e-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    func file(_ name: String) -> String { path + "/" + name }

    @discardableResult
    func write(_ name: String, _ contents: String) throws -> String {
        try contents.write(toFile: file(name), atomically: true, encoding: .utf8)
        return file(name)
    }

    func copyFixture(_ name: String) throws -> String {
        let source = OTSBinary.repositoryRoot + "/Tests/EndToEndTests/Fixtures/" + name
        try FileManager.default.copyItem(atPath: source, toPath: file(name))
        return file(name)
    }

    func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: file(name)) }

    func read(_ name: String) throws -> String { try String(contentsOfFile: file(name), encoding: .utf8) }

    /// What is in the folder besides the given files.
    func contents() throws -> Set<String> {
        Set(try FileManager.default.contentsOfDirectory(atPath: path))
    }
}

/// Checks results XML against testdefinition-results.xsd with xmllint.
enum ResultsSchema {
    static let xmllint: String? = ["/usr/bin/xmllint", "/usr/local/bin/xmllint"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    /// Returns xmllint's complaint, or nil when the file is valid (or
    /// xmllint is missing and not required).
    static func problems(in file: String) async throws -> String? {
        guard let xmllint else {
            if ProcessInfo.processInfo.environment["OTS_REQUIRE_XMLLINT"] == "1" {
                return "xmllint is missing; ./scripts/test.sh installs it"
            }
            print("note: xmllint not found, \(file) not checked against the schema")
            return nil
        }
        let result = try await Subprocess.run(
            .path(FilePath(xmllint)),
            arguments: ["--noout", "--schema", OTSBinary.repositoryRoot + "/formats/testdefinition-results.xsd", file],
            output: .discarded,
            error: .string(limit: 1024 * 1024)
        )
        return result.terminationStatus.isSuccess ? nil : result.standardError
    }
}
