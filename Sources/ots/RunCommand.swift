import ArgumentParser
import Foundation
import Logging
import TestDefinition
import TestRunner

/// `ots run`: testrunner-lite's command line, with the same options and
/// exit codes, so existing scripts keep working.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a test definition (tests.xml) the way testrunner-lite does.",
        discussion: """
            Exit codes: 0 after a completed run, whatever its verdicts; 1 invalid \
            arguments or an unwritable output; 2 the target cannot be reached; 3 the \
            definition does not parse or breaks the schema; 4 the definition is \
            semantically invalid (with -s).
            """
    )

    @Option(name: [.short, .long], help: "The test definition to run.")
    var file: String?

    @Option(name: [.short, .long], help: "Where to write the results (fetched files go beside it).")
    var output: String = "tests.results.xml"

    @Option(name: [.customShort("r"), .long], help: "Results format: xml or text.")
    var format: ResultsFormat = .xml

    @Option(name: [.short, .long], help: "The environment the results name.")
    var environment: String = "hardware"

    @Flag(name: [.short, .long], help: "Print progress (-v) and also every step (-vv).")
    var verbose: Int

    @Flag(name: [.customShort("a"), .long], help: "Run only automatic cases; manual ones are written N/A.")
    var automatic = false

    @Flag(name: [.customShort("m"), .long], help: "Run only manual cases.")
    var manual = false

    @Option(name: [.customShort("l"), .long], help: "Filter: [+|-]key=value[,value...] terms; keys testset, testcase, feature, requirement, type, component.")
    var filter: [String] = []

    @Flag(name: [.customShort("c"), .long], help: "Do not reject the definition for schema problems; print them as warnings.")
    var ci = false

    @Flag(name: [.customShort("s"), .long], help: "Also validate the definition's semantics.")
    var semantic = false

    @Flag(name: [.customShort("A"), .long], help: "Only validate the definition; run nothing.")
    var validateOnly = false

    @Flag(name: [.customShort("H"), .long], help: "Do not ask the target for its product and build.")
    var noHwinfo = false

    @Flag(name: [.customShort("M"), .long], help: "Do not fail cases for measurements beyond their failure limit.")
    var disableMeasurementVerdict = false

    @Option(name: [.customShort("t"), .long], help: "Run steps on this SSH target: [user@]host[:port].")
    var target: String?

    @Option(name: [.customShort("E"), .long], help: "Run steps through this command; the step is its last argument.")
    var executor: String?

    @Option(name: [.customShort("G"), .long], help: "Fetch files with this command; <FILE> and <DEST> are replaced, or appended when absent.")
    var getter: String?

    @Option(name: [.customShort("C"), .long], help: "Run steps inside this chroot.")
    var chroot: String?

    @Option(name: .long, help: "Also write JUnit XML to this file.")
    var junit: String?

    enum ResultsFormat: String, ExpressibleByArgument {
        case xml
        case text
    }

    func validate() throws {
        guard file != nil else {
            throw ValidationError("give the test definition with -f FILE")
        }
        if automatic && manual {
            throw ValidationError("-a and -m exclude each other")
        }
        if [target, executor, chroot].compactMap({ $0 }).count > 1 {
            throw ValidationError("choose one of -t, -E and -C")
        }
    }

    func run() async throws {
        let file = file!
        let parser = DefinitionParser(semantic: semantic, lenient: ci)
        let definition: TestDefinition
        do {
            let (parsed, warnings) = try parser.read(contentsOf: file)
            warnings.forEach { printError("warning: \($0)") }
            definition = parsed
        } catch {
            error.errors.forEach { printError($0.description) }
            throw ExitCode(error.isSyntactic ? ExitStatus.definitionInvalid : ExitStatus.definitionSemanticallyInvalid)
        }
        if validateOnly {
            print("\(file): valid")
            return
        }

        var configuration = try makeConfiguration()
        let outputPath = absolute(output)
        configuration.resultsDirectory = (outputPath as NSString).deletingLastPathComponent
        try checkWritable(outputPath)
        if let junit {
            try checkWritable(absolute(junit))
        }

        let judge: ManualJudge? = isatty(STDIN_FILENO) == 1 && !automatic ? ManualTerminal.judge : nil
        let runner = Runner(configuration: configuration, manualJudge: judge)
        let verbosity = verbose
        let results: TestResults
        do {
            results = try await InterruptibleTask.run {
                try await runner.run(definition) { event in
                    Progress.print(event, verbosity: verbosity)
                }
            }
        } catch let error as RunnerError {
            printError("ots run: \(error.message)")
            throw ExitCode(error.code == .connectionFailure ? ExitStatus.connectionFailure : ExitStatus.invalidArguments)
        } catch is CancellationError {
            printError("ots run: interrupted; no results written")
            throw ExitCode(130)
        }

        do {
            switch format {
            case .xml: try ResultsWriter.write(ResultsWriter.xml(results), to: outputPath)
            case .text: try ResultsWriter.write(TextReport.text(results), to: outputPath)
            }
            if let junit {
                try ResultsWriter.write(JUnitWriter.xml(results), to: absolute(junit))
            }
        } catch {
            printError("ots run: cannot write the results: \(error.localizedDescription)")
            throw ExitCode(ExitStatus.invalidArguments)
        }
        let cases = results.allCases
        printError(
            "\(cases.count) cases: \(cases.filter { $0.result == .pass }.count) passed, "
                + "\(cases.filter { $0.result == .fail }.count) failed, "
                + "\(cases.filter { $0.result == .notApplicable }.count) N/A; results in \(output)"
        )
    }

    private func makeConfiguration() throws -> RunConfiguration {
        var configuration = RunConfiguration(resultsDirectory: ".")
        configuration.environment = environment
        configuration.mode = automatic ? .automatic : (manual ? .manual : .both)
        configuration.collectHardwareInfo = !noHwinfo
        configuration.measurementVerdict = !disableMeasurementVerdict
        do {
            if !filter.isEmpty {
                configuration.filter = try TestFilter(parsing: filter.joined(separator: " "))
            }
            if let target {
                configuration.target = .ssh(try SSHTarget(parsing: target))
            }
        } catch {
            throw ValidationError(error.message)
        }
        if let executor {
            let words = executor.split(whereSeparator: \.isWhitespace).map(String.init)
            guard !words.isEmpty else { throw ValidationError("-E needs a command") }
            configuration.target = .external(words)
        }
        if let chroot {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: chroot, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ValidationError("-C \(chroot): no such folder")
            }
            configuration.target = .chroot(absolute(chroot))
        }
        if let getter {
            let words = getter.split(whereSeparator: \.isWhitespace).map(String.init)
            guard !words.isEmpty else { throw ValidationError("-G needs a command") }
            configuration.getter = words
        }
        return configuration
    }

    private func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }

    /// Fails before anything runs when the output cannot be written.
    private func checkWritable(_ path: String) throws {
        let folder = (path as NSString).deletingLastPathComponent
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            printError("ots run: cannot write the results to \(path): it is a folder")
            throw ExitCode(ExitStatus.invalidArguments)
        }
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
            printError("ots run: cannot write the results to \(path): no such folder \(folder)")
            throw ExitCode(ExitStatus.invalidArguments)
        }
        guard FileManager.default.isWritableFile(atPath: folder) else {
            printError("ots run: cannot write the results to \(path): permission denied")
            throw ExitCode(ExitStatus.invalidArguments)
        }
    }
}
