import Foundation
import TestDefinition

/// testrunner-lite's `-d`: ties each case to the rich-core dumps that
/// sp-rich-core makes on the target while it runs.
///
/// Before a case, the kernel's core pattern on the target is pointed at
/// `rich-core-dumper` with a fresh id (a UUID whose dashes are zeros, as
/// testrunner-lite makes it); after the case, `rich-core-find-uuid FOLDER
/// ID` names the case's crash reports, and the dumps `FOLDER*ID*` are
/// fetched into the results folder and removed from the target.
struct RichCoreDumps {
    /// The folder on the target, ending in `/`.
    let folder: String
    /// `-T`: 0 does not wait, -1 waits without limit.
    let uploadTimeout: Int
    let configuration: RunConfiguration
    let commands: CommandRunner

    var target: ExecutionTarget { configuration.target }

    init(folder: String, uploadTimeout: Int, configuration: RunConfiguration, commands: CommandRunner) {
        self.folder = folder.hasSuffix("/") ? folder : folder + "/"
        self.uploadTimeout = uploadTimeout
        self.configuration = configuration
        self.commands = commands
    }

    /// The command that sets the core pattern for one case.
    static func corePatternCommand(uuid: String) -> String {
        "sysctl -q -w kernel.core_pattern='|/usr/sbin/rich-core-dumper --pid=%p --signal=%s --name=%e --tc-uuid=\(uuid)'"
    }

    /// A case's id: a UUID with its dashes turned into zeros.
    static func newID() -> String {
        UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "0")
    }

    /// Whether the target has sp-rich-core's tools.
    func available() async -> Bool {
        await succeeds("command -v rich-core-dumper >/dev/null 2>&1 || test -x /usr/sbin/rich-core-dumper")
    }

    /// Points the core pattern at this case's id; a warning when that fails.
    func begin(uuid: String) async -> String? {
        guard let outcome = try? await commands.run(target.arguments(for: Self.corePatternCommand(uuid: uuid)), timeout: .seconds(90))
        else { return "could not set the core pattern for rich-core dumps" }
        defer { outcome.removeFiles() }
        guard outcome.termination == .exited(0) else {
            let reason = outcome.stderr.text.trimmingCharacters(in: .whitespacesAndNewlines)
            return "setting the core pattern for rich-core dumps failed: " + (reason.isEmpty ? "no info available" : reason)
        }
        return nil
    }

    /// After the case: the crash ids of its dumps and the dumps themselves,
    /// fetched; nil when the case made none.
    func collect(uuid: String, into resultsDirectory: String, warn: (String) -> Void) async -> [String]? {
        let pattern = Self.quotedFolder(folder) + "*" + uuid + "*"
        let dumps = await lines(of: "ls -1d -- " + pattern + " 2>/dev/null") ?? []
        guard !dumps.isEmpty else { return nil }
        let search = "rich-core-find-uuid " + FileFetcher.shellQuoted(folder) + " " + uuid
        var ids = await lines(of: search)
        // -T: the crash ids come once the reports are uploaded; wait for them.
        let deadline = ContinuousClock.now + .seconds(max(0, uploadTimeout))
        while ids?.isEmpty ?? true, uploadTimeout != 0, uploadTimeout < 0 || ContinuousClock.now < deadline, !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            ids = await lines(of: search)
        }
        let fetcher = FileFetcher(configuration: configuration, commands: commands)
        for dump in dumps {
            let name = (dump as NSString).lastPathComponent
            guard FileFetcher.isSafeName(name) else { continue }
            if let problem = await fetcher.copy(dump, to: resultsDirectory + "/" + name) {
                warn("could not fetch the rich-core dump \(dump): \(problem)")
                continue
            }
            await fetcher.delete(dump)
        }
        return ids ?? []
    }

    /// A folder for the shell, quoted, so that only the glob after it expands.
    private static func quotedFolder(_ folder: String) -> String {
        FileFetcher.shellQuoted(folder)
    }

    private func succeeds(_ command: String) async -> Bool {
        guard let outcome = try? await commands.run(target.arguments(for: command), timeout: .seconds(90)) else { return false }
        outcome.removeFiles()
        return outcome.termination == .exited(0)
    }

    /// The command's output lines, or nil when it failed.
    private func lines(of command: String) async -> [String]? {
        guard let outcome = try? await commands.run(target.arguments(for: command), timeout: .seconds(90)) else { return nil }
        defer { outcome.removeFiles() }
        guard outcome.termination == .exited(0) else { return nil }
        return outcome.stdout.text.split(separator: "\n").map { String($0) }.filter { !$0.isEmpty }
    }
}

/// testrunner-lite's `--measure-power`: the host's `hat_ctrl` streams the
/// current to a file while each case runs; its samples become the case's
/// series "Current samples" (mA, every 200 ms).
struct PowerMeasurement {
    let command: String
    let file: String
    let commands: CommandRunner

    /// Whether `hat_ctrl` is on the host's PATH (or is a path to a program).
    func available() -> Bool {
        Self.executable(command) != nil
    }

    static func executable(_ command: String) -> String? {
        if command.contains("/") { return FileManager.default.isExecutableFile(atPath: command) ? command : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        return path.split(separator: ":").map { $0 + "/" + command }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Starts streaming; a warning when that fails.
    func start() async -> String? {
        try? FileManager.default.removeItem(atPath: file)
        return await run(["-stream:5:s1-2:f" + file + ":0"]) ? nil : "Failure in power measurement initialization"
    }

    /// Stops streaming and reads the samples; the warning when stopping failed.
    func stop() async -> (series: MeasurementSeries?, warning: String?) {
        let stopped = await run(["-stream:0"])
        defer { try? FileManager.default.removeItem(atPath: file) }
        let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
        let samples = text.split(separator: "\n").compactMap { Self.leadingNumber($0) }
        let series =
            samples.isEmpty
            ? nil
            : MeasurementSeries(
                name: "Current samples", unit: "mA", group: "Current measurement", interval: 200, intervalUnit: "ms",
                points: samples.map { MeasurementSeries.Point(value: $0) })
        return (series, stopped ? nil : "Failure in stopping power measurement")
    }

    /// The number a line starts with (as C's strtod reads it), or nil.
    static func leadingNumber(_ line: Substring) -> Double? {
        let trimmed = line.drop { $0 == " " || $0 == "\t" }
        var end = trimmed.startIndex
        var best: Double?
        while end < trimmed.endIndex {
            end = trimmed.index(after: end)
            if let value = Double(trimmed[trimmed.startIndex..<end]), value.isFinite { best = value }
        }
        return best
    }

    private func run(_ arguments: [String]) async -> Bool {
        guard let program = Self.executable(command),
            let outcome = try? await commands.run([program] + arguments, timeout: .seconds(90))
        else { return false }
        outcome.removeFiles()
        return outcome.termination == .exited(0)
    }
}
