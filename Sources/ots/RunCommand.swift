import ArgumentParser
import Foundation
import Logging
import OTSCore
import TestDefinition
import TestRunner

/// `ots run`: testrunner-lite's command line, with the same options and
/// exit codes, so existing scripts keep working.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a test definition (tests.xml) the way testrunner-lite does.",
        discussion: """
            Exit codes (testrunner-lite's): 0 after a completed run, whatever its \
            verdicts; 1 invalid arguments or an unreadable definition; 2 the target \
            cannot be reached, or was lost during the run (the results are still \
            written); 3 the definition is not well-formed XML; 4 the definition breaks \
            the schema (or, with -s, the semantic rules); 5 the output folder cannot be \
            created; 7 the results cannot be written; 130 interrupted (the results of \
            what ran are written).
            """
    )

    @Option(name: [.short, .long], help: "The test definition to run.")
    var file: String?

    @Option(name: [.short, .long], help: "Where to write the results; fetched files go in the same folder, which is created when missing.")
    var output: String?

    @Option(name: [.customShort("r"), .long], help: "Results format: xml or text.")
    var format: ResultsFormat = .xml

    @Option(name: [.short, .long], help: "The environment: sets run in hardware and scratchbox unless they turn it off.")
    var environment: String = "hardware"

    @Flag(name: [.short, .long], help: "Log progress to standard output (-v) and also every step (-vv).")
    var verbose: Int

    @Flag(name: [.customShort("a"), .long], help: "Run only automatic cases; manual ones are written N/A.")
    var automatic = false

    @Flag(name: [.customShort("m"), .long], help: "Run only manual cases.")
    var manual = false

    @Option(
        name: [.customShort("l"), .long], parsing: .unconditionalSingleValue,
        help: "Filter: [+|-]key=value[,value...] terms; keys testsuite, testset, feature, testcase, requirement, type, component.")
    var filter: [String] = []

    @Flag(name: [.customShort("c"), .long], help: "Do not validate against the schema (problems are printed as warnings).")
    var ci = false

    @Flag(name: [.customShort("s"), .long], help: "Validate against the semantic rules too.")
    var semantic = false

    @Flag(name: [.customShort("A"), .long], help: "Only validate the definition; run nothing.")
    var validateOnly = false

    @Flag(name: [.customShort("H"), .long], help: "Do not ask the target for its product and build.")
    var noHwinfo = false

    @Flag(name: [.customShort("M"), .long], help: "Record measurements but never fail a case for them.")
    var disableMeasurementVerdict = false

    @Flag(name: [.customShort("P"), .long], help: "Print each step's output as it finishes.")
    var printStepOutput = false

    @Option(name: [.customShort("t"), .long], help: "Run steps on this SSH target: [user@]host[:port].")
    var target: String?

    @Option(
        name: [.customShort("R"), .customLong("resume")],
        help: ArgumentHelp(
            "When the connection to the target is lost, wait for it after the set, run the set's post-steps, then exit (the default) or continue with the next sets.",
            valueName: "exit|continue"))
    var resume: String?

    @Option(
        name: [.customShort("i"), .customLong("hwinfo-target")],
        help: "Ask this SSH host, [user@]host[:port], for the product and build instead of the target.")
    var hwinfoTarget: String?

    @Option(name: [.customShort("k"), .long], help: "The SSH key for -t (and -i).")
    var sshKey: String?

    @Option(name: [.customShort("E"), .long], help: "Run steps through this command; the step is its last argument.")
    var executor: String?

    @Option(
        name: [.customShort("G"), .long],
        help: "Fetch files with this command; <FILE> is the file, <DEST> the results folder (appended when absent).")
    var getter: String?

    @Option(name: [.customShort("C"), .long], help: "Run steps inside this chroot (needs root).")
    var chroot: String?

    @Option(name: .long, help: "Also write JUnit XML to this file.")
    var junit: String?

    @Option(name: [.customShort("u"), .customLong("vcs-url")], help: "Write this VCS URL to the results (<vcsurl>).")
    var vcsURL: String?

    @Option(name: [.customShort("U"), .customLong("package-url")], help: "Write this package URL to the results (<packageurl>).")
    var packageURL: String?

    @Flag(name: [.customShort("S"), .long], help: "Write log messages also to syslog (as testrunner-lite, facility local1).")
    var syslog = false

    @Option(
        name: [.customShort("L"), .long],
        help: "Send log messages to this remote HTTP logger: [http://]host[:port][/path/] (POSTs as testrunner-lite's).")
    var logger: String?

    @Option(name: .customLong("logid"), help: "An identifier (letters and digits) sent with every HTTP log message.")
    var logID: String?

    @Option(
        name: .customLong("utf8-limit"),
        help: "The longest UTF-8 sequence (1 to 4 bytes, 4 by default) taken as valid step output; longer ones count as invalid UTF-8.")
    var utf8Limit: String?

    @Flag(name: [.customShort("V"), .customLong("version")], help: "Print the version and exit.")
    var printVersion = false

    @Option(
        name: [.customShort("d"), .customLong("rich-core-dumps")],
        help: "Tie cases to the rich-core dumps sp-rich-core writes in this folder on the target, and fetch them.")
    var richCoreDumps: String?

    @Option(
        name: [.customShort("T"), .customLong("core-upload-timeout")], parsing: .unconditional,
        help: "With -d, how long to wait after a case for its crash reports to be uploaded (0 does not wait, -1 waits without limit).")
    var coreUploadTimeout: String?

    @Flag(name: .customLong("measure-power"), help: "Record each case's current with the host's hat_ctrl.")
    var measurePower = false

    enum ResultsFormat: String, ExpressibleByArgument {
        case xml
        case text
    }

    func validate() throws {
        if printVersion { return }
        guard file != nil else {
            throw ValidationError("mandatory option missing -f input_file")
        }
        if output == nil && !validateOnly {
            throw ValidationError("mandatory option missing -o output_file")
        }
        if automatic && manual {
            throw ValidationError("-a and -m are mutually exclusive")
        }
        if target != nil && (executor != nil || getter != nil) {
            throw ValidationError("-t and -E/-G are mutually exclusive")
        }
        if chroot != nil && (target != nil || executor != nil || getter != nil) {
            throw ValidationError("-C and remote execution (-t or -E/-G) are mutually exclusive")
        }
        if sshKey != nil && target == nil && hwinfoTarget == nil {
            throw ValidationError("-k needs -t")
        }
        if let logID, let bad = logID.first(where: { !($0.isASCII && ($0.isLetter || $0.isNumber)) }) {
            throw ValidationError("invalid char '\(bad)' in logid argument")
        }
        if logID?.isEmpty == true {
            throw ValidationError("--logid needs letters or digits")
        }
        if let utf8Limit, Int(utf8Limit).map({ (1...4).contains($0) }) != true {
            throw ValidationError("Invalid value for option utf8-limit: '\(utf8Limit)' (use 1 to 4)")
        }
        if let coreUploadTimeout, Int(coreUploadTimeout).map({ $0 >= -1 }) != true {
            throw ValidationError("Invalid value for option -T: '\(coreUploadTimeout)' (seconds, or -1 for no limit)")
        }
        if let resume, RunConfiguration.ResumeAction(rawValue: resume.isEmpty ? "exit" : resume) == nil {
            throw ValidationError("invalid argument value: \(resume) (-R takes exit or continue)")
        }
        if richCoreDumps?.isEmpty == true {
            throw ValidationError("-d needs the folder of the rich-core dumps")
        }
        if let logger, URL(string: RemoteLogger.url(from: logger))?.host == nil {
            throw ValidationError("-L '\(logger)' is not [http://]host[:port][/path/]")
        }
    }

    func run() async throws {
        if printVersion {
            print("ots run (testrunner-lite compatible) version \(OTSVersion.current)")
            return
        }
        let file = file!
        guard FileManager.default.isReadableFile(atPath: file) else {
            let reason = FileManager.default.fileExists(atPath: file) ? "permission denied" : "no such file"
            printError("ots run: cannot read the test definition \(file): \(reason)")
            throw ExitCode(ExitStatus.invalidArguments)
        }
        let definition = try readDefinition(file)
        if validateOnly {
            print("\(file) validates")
            return
        }

        var configuration = try makeConfiguration()
        let outputPath = absolute(output!)
        configuration.resultsDirectory = (outputPath as NSString).deletingLastPathComponent
        try prepareOutput(outputPath)
        if let junit {
            try prepareOutput(absolute(junit))
        }

        let judge: ManualJudge? = isatty(STDIN_FILENO) == 1 && !automatic ? ManualTerminal.judge : nil
        let runner = Runner(configuration: configuration, manualJudge: judge)
        var log = RunLog(verbosity: verbose, printStepOutput: printStepOutput)
        let remote = logger.map { RemoteLogger(url: $0, logID: logID, onFailure: { printError("warning: \($0)") }) }
        let sinks = syslog || remote != nil ? RunLogSinks(syslog: syslog, http: remote) : nil
        log.sinks = sinks
        let report: RunReport
        do {
            report = try await InterruptibleTask.run { [log] in
                try await runner.run(definition) { log.print($0) }
            }
        } catch let error as RunnerError {
            await sinks?.close()
            printError("ots run: \(error.message)")
            switch error.code {
            case .connectionFailure: throw ExitCode(ExitStatus.connectionFailure)
            case .outputUnwritable: throw ExitCode(ExitStatus.outputFolder)
            default: throw ExitCode(ExitStatus.invalidArguments)
            }
        }

        var results = report.results
        results.vcsURL = vcsURL
        results.packageURL = packageURL
        do {
            switch format {
            case .xml: try ResultsWriter.write(ResultsWriter.xml(results), to: outputPath)
            case .text: try ResultsWriter.write(TextReport.text(results), to: outputPath)
            }
            if let junit {
                try ResultsWriter.write(JUnitWriter.xml(results), to: absolute(junit))
            }
        } catch {
            await sinks?.close()
            printError("ots run: cannot write the results to \(outputPath): \(error.localizedDescription)")
            throw ExitCode(ExitStatus.resultLogging)
        }
        log.finished(results, output: output!)
        await sinks?.close()
        switch report.abort {
        case .connectionLost:
            printError("ots run: the connection to the target was lost; the steps after it are written FAIL")
            throw ExitCode(ExitStatus.connectionFailure)
        case .interrupted:
            printError("ots run: interrupted; the results of what ran are in \(output!)")
            throw ExitCode(ExitStatus.interrupted)
        case nil:
            break
        }
    }

    private func readDefinition(_ file: String) throws -> TestDefinition {
        let parser = DefinitionParser(semantic: semantic, lenient: ci)
        do {
            let (parsed, warnings) = try parser.read(contentsOf: file)
            warnings.forEach { printError("warning: \($0)") }
            return parsed
        } catch {
            error.errors.forEach { printError($0.description) }
            throw ExitCode(ExitStatus.code(for: error))
        }
    }

    private func makeConfiguration() throws -> RunConfiguration {
        var configuration = RunConfiguration(resultsDirectory: ".")
        configuration.environment = environment
        configuration.mode = automatic ? .automatic : (manual ? .manual : .both)
        configuration.collectHardwareInfo = !noHwinfo
        configuration.measurementVerdict = !disableMeasurementVerdict
        configuration.utf8Limit = utf8Limit.flatMap { Int($0) } ?? 4
        configuration.richCoreDumps = richCoreDumps
        configuration.coreUploadTimeout = coreUploadTimeout.flatMap { Int($0) } ?? 0
        configuration.measurePower = measurePower
        configuration.resume = resume.flatMap { RunConfiguration.ResumeAction(rawValue: $0.isEmpty ? "exit" : $0) }
        do {
            if !filter.isEmpty {
                configuration.filter = try TestFilter(parsing: filter.joined(separator: " "))
            }
            var keyOptions: [String] = []
            if let sshKey {
                let key = sshKey.hasPrefix("~/") ? NSHomeDirectory() + sshKey.dropFirst() : sshKey
                guard FileManager.default.isReadableFile(atPath: key) else {
                    throw RunnerError(.invalidArgument, "ssh key file not found or not readable: \(sshKey)")
                }
                keyOptions = ["-i", key]
            }
            if let target {
                var ssh = try SSHTarget(parsing: target)
                ssh.options = keyOptions
                configuration.target = .ssh(ssh)
            }
            if let hwinfoTarget {
                var ssh = try SSHTarget(parsing: hwinfoTarget)
                ssh.options = keyOptions
                configuration.hardwareInfoTarget = .ssh(ssh)
            }
            if let executor {
                configuration.target = .external(try CommandWords.split(executor, option: "-E"))
            }
            if let getter {
                configuration.getter = try CommandWords.split(getter, option: "-G")
            }
        } catch let error as RunnerError {
            throw ValidationError(error.message)
        }
        if let chroot {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: chroot, isDirectory: &isDirectory) else {
                throw ValidationError("could not stat folder '\(chroot)'")
            }
            guard isDirectory.boolValue else {
                throw ValidationError("'\(chroot)' is not a directory")
            }
            configuration.target = .chroot(absolute(chroot))
        }
        return configuration
    }

    private func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }

    /// Creates the output's folder when missing (testrunner-lite does) and
    /// fails before anything runs when the output cannot be written there.
    private func prepareOutput(_ path: String) throws {
        let folder = (path as NSString).deletingLastPathComponent
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            printError("ots run: cannot write the results to \(path): it is a folder")
            throw ExitCode(ExitStatus.resultLogging)
        }
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            printError("ots run: failed to create output directory \(folder): \(error.localizedDescription)")
            throw ExitCode(ExitStatus.outputFolder)
        }
        guard FileManager.default.isWritableFile(atPath: folder) else {
            printError("ots run: cannot write the results to \(path): permission denied")
            throw ExitCode(ExitStatus.resultLogging)
        }
    }
}

extension RunCommand {
    /// testrunner-lite's `-R[ACTION]` and `--resume[=ACTION]` take an
    /// optional value, which ArgumentParser options cannot: `ots run`'s
    /// arguments are given it as `--resume=ACTION` (`exit` when absent).
    static func withResumeValue(_ arguments: [String]) -> [String] {
        guard arguments.first == "run" else { return arguments }
        return arguments.map { argument in
            if argument == "-R" || argument == "--resume" { return "--resume=exit" }
            if argument.hasPrefix("-R") && !argument.hasPrefix("--") { return "--resume=" + argument.dropFirst(2) }
            return argument
        }
    }
}

/// Splits an -E or -G command into words the way a shell would (quotes and
/// backslashes), without running a shell.
enum CommandWords {
    static func split(_ text: String, option: String) throws(RunnerError) -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        var escaped = false
        for character in text {
            if escaped {
                current.append(character)
                escaped = false
                continue
            }
            if let open = quote {
                if character == open {
                    quote = nil
                } else if character == "\\" && open == "\"" {
                    escaped = true
                } else {
                    current.append(character)
                }
                continue
            }
            switch character {
            case "\\": escaped = true; inWord = true
            case "\"", "'": quote = character; inWord = true
            case _ where character.isWhitespace:
                if inWord { words.append(current) }
                current = ""
                inWord = false
            default:
                current.append(character)
                inWord = true
            }
        }
        if quote != nil || escaped {
            throw RunnerError(.invalidArgument, "\(option) '\(text)': unbalanced quote or trailing backslash")
        }
        if inWord { words.append(current) }
        guard !words.isEmpty else {
            throw RunnerError(.invalidArgument, "\(option) needs a command")
        }
        return words
    }
}
