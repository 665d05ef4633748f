import Foundation
import TestDefinition

/// Copies files named by `get` from the target into the results folder,
/// and deletes them there when asked.
struct FileFetcher {
    let configuration: RunConfiguration
    let commands: CommandRunner

    var target: ExecutionTarget { configuration.target }

    /// Copies `path` from the target to `destination`; returns why it
    /// failed, or nil.
    ///
    /// The path is shell text, as in testrunner-lite (`get\ file.txt`,
    /// globs): locally and in a chroot it is expanded by the shell.
    func copy(_ path: String, to destination: String) async -> String? {
        let folder = (destination as NSString).deletingLastPathComponent
        if let getter = configuration.getter {
            // testrunner-lite's getter: <FILE> is the path, <DEST> the
            // results folder; appended when absent.
            var arguments = getter
            if !arguments.contains(where: { $0.contains("<FILE>") }) { arguments.append("<FILE>") }
            if !arguments.contains(where: { $0.contains("<DEST>") }) { arguments.append("<DEST>") }
            arguments = arguments.map {
                $0.replacingOccurrences(of: "<FILE>", with: path).replacingOccurrences(of: "<DEST>", with: folder + "/")
            }
            return await run(arguments, expecting: destination)
        }
        switch target {
        case .local:
            let script = "cp -- " + Self.pathWords(path) + " " + Self.shellQuoted(folder + "/")
            return await run(["/bin/sh", "-c", script], expecting: destination)
        case .ssh(let ssh):
            return await run(ssh.scpArguments(remote: path, local: destination), expecting: destination)
        case .chroot, .external:
            // Read inside the target, so a chroot's paths, links and shell
            // expansions stay inside it.
            return await readThroughExecutor(path, to: destination)
        }
    }

    /// Removes the file on the target (`delete_after`).
    func delete(_ path: String) async {
        // The same words as the copy: a path with spaces is one file.
        let arguments = target.arguments(for: "rm -f -- " + Self.pathWords(path))
        if let outcome = try? await commands.run(arguments, timeout: .seconds(GeneralAttributes.defaultTimeout)) {
            outcome.removeFiles()
        }
    }

    /// With an external executor and no getter: `cat` the file through it.
    private func readThroughExecutor(_ path: String, to destination: String) async -> String? {
        do {
            let outcome = try await CommandRunner(
                scratchDirectory: commands.scratchDirectory, inlineLimit: 0, environment: commands.environment
            ).run(
                target.arguments(for: "cat -- " + Self.pathWords(path)),
                timeout: .seconds(GeneralAttributes.defaultTimeout)
            )
            guard outcome.termination == .exited(0) else {
                outcome.removeFiles()
                return
                    "cat exited with \(outcome.termination.returnCode): \(outcome.stderr.text.trimmingCharacters(in: .whitespacesAndNewlines))"
            }
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: destination, isDirectory: &isDirectory), isDirectory.boolValue {
                outcome.removeFiles()
                return "\(destination) is a folder"
            }
            if let whole = outcome.stdout.overflowFile {
                // Only a regular file of the same name is ever replaced.
                try? FileManager.default.removeItem(atPath: destination)
                try FileManager.default.moveItem(atPath: whole, toPath: destination)
            } else {
                FileManager.default.createFile(atPath: destination, contents: Data())
            }
            if let errors = outcome.stderr.overflowFile { try? FileManager.default.removeItem(atPath: errors) }
            return nil
        } catch {
            return "\(error)"
        }
    }

    private func run(_ arguments: [String], expecting destination: String) async -> String? {
        do {
            let outcome = try await commands.run(
                arguments,
                timeout: .seconds(GeneralAttributes.defaultTimeout)
            )
            outcome.removeFiles()
            guard outcome.termination == .exited(0) else {
                let reason = outcome.stderr.text.trimmingCharacters(in: .whitespacesAndNewlines)
                if reason.contains("No such file") { return "no such file" }
                return "\(arguments[0]) exited with \(outcome.termination.returnCode)" + (reason.isEmpty ? "" : ": \(reason)")
            }
            return nil
        } catch {
            return "\(error)"
        }
    }

    /// Whether a fetched file's name can be kept in the results folder
    /// (not empty, `.` or `..`).
    static func isSafeName(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && !name.contains("/")
    }

    /// A path from the definition as shell words: left as written, so
    /// escapes and globs work, unless it holds nothing the shell would treat
    /// specially, in which case it is quoted to be safe with odd names.
    static func pathWords(_ path: String) -> String {
        let special = CharacterSet(charactersIn: "\\*?[]~$")
        return path.rangeOfCharacter(from: special) == nil ? shellQuoted(path) : path
    }

    /// Single-quotes a word for the shell.
    static func shellQuoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
