import Foundation
import Subprocess
import Synchronization
import SystemPackage

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// How a command ended.
public enum Termination: Sendable, Hashable {
    case exited(Int32)
    case signalled(Int32)

    /// The exit code as a shell reports it: the code, or 128 + the signal.
    public var returnCode: Int {
        switch self {
        case .exited(let code): Int(code)
        case .signalled(let signal): 128 + Int(signal)
        }
    }
}

/// What a finished command left behind.
public struct CommandOutcome: Sendable {
    public var termination: Termination
    /// The command ran past its timeout and its process group was killed.
    public var timedOut: Bool
    /// The command's process group, for killing what it left running.
    public var processGroup: Int32
    public var stdout: CapturedOutput
    public var stderr: CapturedOutput
    public var start: Date
    public var end: Date
}

extension CommandOutcome {
    /// Removes the files that kept its output, for a caller that does not
    /// want them.
    public func removeFiles() {
        for file in [stdout.overflowFile, stderr.overflowFile].compactMap({ $0 }) {
            try? FileManager.default.removeItem(atPath: file)
        }
    }
}

/// A stream's output: the first bytes in memory and, when there was more
/// than the inline limit or it was not valid UTF-8, a file that holds all
/// of it as it was written.
public struct CapturedOutput: Sendable {
    /// Up to the inline limit.
    public var head: [UInt8]
    /// How many bytes the command wrote in all.
    public var totalBytes: Int
    /// The file with the whole output, raw, when it did not fit inline or
    /// was not valid UTF-8. The caller owns it (moves it or deletes it).
    public var overflowFile: String?
    /// testrunner-lite's `--utf8-limit`: the longest UTF-8 sequence (in
    /// bytes, 1 to 4) that counts as valid; a longer one counts as invalid.
    public var utf8Limit: Int

    public init(head: [UInt8], totalBytes: Int, overflowFile: String?, utf8Limit: Int = 4) {
        self.head = head
        self.totalBytes = totalBytes
        self.overflowFile = overflowFile
        self.utf8Limit = utf8Limit
    }

    public var isTruncated: Bool { totalBytes > head.count }

    /// Whether the bytes kept in memory are valid UTF-8 (a character cut
    /// at the inline limit does not count against it).
    public var isValidUTF8: Bool { Self.isValidUTF8(head, truncated: isTruncated, limit: utf8Limit) }

    /// The output as text: invalid UTF-8, and characters longer than the
    /// UTF-8 limit, become U+FFFD.
    public var text: String {
        let decoded = String(decoding: head, as: UTF8.self)
        guard utf8Limit < 4, decoded.unicodeScalars.contains(where: { UTF8.width($0) > utf8Limit }) else { return decoded }
        var scalars = String.UnicodeScalarView()
        for scalar in decoded.unicodeScalars {
            scalars.append(UTF8.width(scalar) > utf8Limit ? "\u{FFFD}" : scalar)
        }
        return String(scalars)
    }

    static func isValidUTF8(_ bytes: [UInt8], truncated: Bool, limit: Int = 4) -> Bool {
        var bytes = bytes[...]
        if truncated {
            // Drop a sequence cut at the end.
            var back = 0
            while back < min(3, bytes.count), bytes[bytes.endIndex - 1 - back] & 0xC0 == 0x80 { back += 1 }
            if back < bytes.count, bytes[bytes.endIndex - 1 - back] >= 0xC0 { bytes = bytes.dropLast(back + 1) }
        }
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                if UTF8.width(scalar) > limit { return false }
            case .emptyInput: return true
            case .error: return false
            }
        }
    }
}

/// Runs one command (an argument vector, never through a shell of ours) in a
/// process group of its own, with its output in files and a timeout that
/// kills the whole group.
///
/// Output goes to files rather than pipes, so a process that leaves a
/// background child holding its output open still finishes when it exits,
/// and output of any size never fills memory.
public struct CommandRunner: Sendable {
    /// Where output files are written while a command runs.
    public var scratchDirectory: String
    /// Bytes of each stream kept in memory; more goes to an overflow file.
    public var inlineLimit: Int
    /// After a timeout's SIGTERM, how long the group has before SIGKILL
    /// (testrunner-lite's hard timeout: 5 s).
    public var killGrace: Duration

    /// Variables every command gets on top of the inherited ones.
    public var environment: [String: String]
    /// `--utf8-limit`: the longest UTF-8 sequence taken as valid output.
    public var utf8Limit = 4

    public init(
        scratchDirectory: String,
        inlineLimit: Int = 64 * 1024,
        killGrace: Duration = .seconds(5),
        environment: [String: String] = [:]
    ) {
        self.scratchDirectory = scratchDirectory
        self.inlineLimit = inlineLimit
        self.killGrace = killGrace
        self.environment = environment
    }

    /// Runs `arguments[0]` with the rest as its arguments.
    /// - Parameters:
    ///   - timeout: after this the command's process group is sent SIGTERM,
    ///     and SIGKILL after `killGrace`.
    ///   - environment: extra variables on top of the inherited ones.
    ///   - onTimeout: called when the timeout expires, before the local
    ///     signals (`hard` false) and before SIGKILL (`hard` true); remote
    ///     targets use it to stop what runs on the other side.
    public func run(
        _ arguments: [String],
        timeout: Duration,
        environment: [String: String] = [:],
        workingDirectory: String? = nil,
        onTimeout: (@Sendable (_ hard: Bool) async -> Void)? = nil
    ) async throws -> CommandOutcome {
        precondition(!arguments.isEmpty, "a command needs an executable")
        let token = UUID().uuidString
        let stdoutPath = scratchDirectory + "/\(token).stdout"
        let stderrPath = scratchDirectory + "/\(token).stderr"
        let stdoutFD = try FileDescriptor.open(
            FilePath(stdoutPath), .writeOnly, options: [.create, .truncate], permissions: [.ownerReadWrite]
        )
        let stderrFD: FileDescriptor
        do {
            stderrFD = try FileDescriptor.open(
                FilePath(stderrPath), .writeOnly, options: [.create, .truncate], permissions: [.ownerReadWrite]
            )
        } catch {
            try? stdoutFD.close()
            try? FileManager.default.removeItem(atPath: stdoutPath)
            throw error
        }

        var options = PlatformOptions()
        // A group of its own, so a timeout reaches every process it started.
        options.processGroupID = 0
        options.teardownSequence = [
            .send(signal: .terminate, toProcessGroup: true, allowedDurationToNextStep: .milliseconds(500)),
            .send(signal: .kill, toProcessGroup: true, allowedDurationToNextStep: .milliseconds(500)),
        ]

        let platformOptions = options
        let executable: Executable = arguments[0].contains("/") ? .path(FilePath(arguments[0])) : .name(arguments[0])
        var environmentUpdates: [Environment.Key: String?] = [:]
        for (key, value) in self.environment.merging(environment, uniquingKeysWith: { _, new in new }) {
            environmentUpdates[Environment.Key(stringLiteral: key)] = value
        }
        let processEnvironment: Environment = environmentUpdates.isEmpty ? .inherit : .inherit.updating(environmentUpdates)
        let state = RunState()
        let start = Date()
        let termination: Termination
        do {
            termination = try await withThrowingTaskGroup(of: Termination?.self) { group in
                group.addTask {
                    let result = try await Subprocess.run(
                        executable,
                        arguments: Arguments(Array(arguments.dropFirst())),
                        environment: processEnvironment,
                        workingDirectory: workingDirectory.map { FilePath($0) },
                        platformOptions: platformOptions,
                        input: .none,
                        output: .fileDescriptor(stdoutFD, closeAfterSpawningProcess: true),
                        error: .fileDescriptor(stderrFD, closeAfterSpawningProcess: true)
                    ) { execution in
                        state.value.withLock { $0.processGroup = execution.processIdentifier.value }
                    }
                    state.value.withLock { $0.finished = true }
                    switch result.terminationStatus {
                    case .exited(let code): return .exited(code)
                    case .signaled(let signal): return .signalled(signal)
                    }
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    // From here the command has overrun, whatever happens next.
                    let overran = state.value.withLock { state -> Bool in
                        guard !state.finished else { return false }
                        state.timedOut = true
                        return true
                    }
                    guard overran else { return nil }
                    try await Self.signalGroup(state, SIGTERM, hard: false, alongside: onTimeout)
                    try await Task.sleep(for: killGrace)
                    try await Self.signalGroup(state, SIGKILL, hard: true, alongside: onTimeout)
                    return nil
                }
                while let next = try await group.next() {
                    if let termination = next {
                        group.cancelAll()
                        return termination
                    }
                }
                preconditionFailure("the command task always returns a termination")
            }
        } catch {
            try? FileManager.default.removeItem(atPath: stdoutPath)
            try? FileManager.default.removeItem(atPath: stderrPath)
            throw error
        }
        let end = Date()
        let (timedOut, processGroup) = state.value.withLock { ($0.timedOut, $0.processGroup ?? 0) }
        return CommandOutcome(
            termination: termination,
            timedOut: timedOut,
            processGroup: processGroup,
            stdout: capture(stdoutPath),
            stderr: capture(stderrPath),
            start: start,
            end: end
        )
    }

    /// Sends a signal to the command's process group once its id is known
    /// (a timeout can come before the spawn has reported it), while the
    /// remote stop, if any, runs alongside rather than first.
    private static func signalGroup(
        _ state: RunState,
        _ signal: Int32,
        hard: Bool,
        alongside remoteStop: (@Sendable (_ hard: Bool) async -> Void)?
    ) async throws {
        async let remote: Void = { if let remoteStop { await remoteStop(hard) } }()
        while true {
            let sent = state.value.withLock { state -> Bool? in
                if state.finished { return nil }
                guard let group = state.processGroup else { return false }
                _ = kill(-group, signal)
                return true
            }
            if sent != false { break }
            try await Task.sleep(for: .milliseconds(5))
        }
        await remote
    }

    /// Shared between the task that runs the command and the one that
    /// enforces its timeout.
    private final class RunState: Sendable {
        struct Value {
            var processGroup: pid_t?
            var finished = false
            var timedOut = false
        }

        let value = Mutex(Value())
    }

    /// Reads up to the inline limit; keeps the file only when there was more.
    private func capture(_ path: String) -> CapturedOutput {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            return CapturedOutput(head: [], totalBytes: 0, overflowFile: nil, utf8Limit: utf8Limit)
        }
        defer { try? handle.close() }
        let head = Array((try? handle.read(upToCount: inlineLimit)) ?? Data())
        let total = (try? handle.seekToEnd()).map(Int.init) ?? head.count
        if total > head.count || !CapturedOutput.isValidUTF8(head, truncated: false, limit: utf8Limit) {
            return CapturedOutput(head: head, totalBytes: total, overflowFile: path, utf8Limit: utf8Limit)
        }
        try? FileManager.default.removeItem(atPath: path)
        return CapturedOutput(head: head, totalBytes: total, overflowFile: nil, utf8Limit: utf8Limit)
    }
}
