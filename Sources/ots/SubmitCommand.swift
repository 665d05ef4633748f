import ArgumentParser
import Foundation
import OTSClient
import OTSCore
import TOMLKit

/// `ots submit`: sends a testrun, and with --watch follows it to its verdict.
struct SubmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Submit a testrun, from options or a request file (JSON or TOML).",
        discussion: """
            Exit codes with --watch: 0 PASS, 1 FAIL, 2 ERROR (or cancelled). Without --watch: 0 once the server \
            accepted the testrun. 3 when the testrun could not be submitted or followed.
            """
    )

    @OptionGroup var options: ClientOptions

    @Option(name: .shortAndLong, help: "A request file, JSON or TOML (see examples/request.json); options given here override it.")
    var file: String?

    @Option(help: "The device group (required unless the file gives it).")
    var devicegroup: String?
    @Option(help: "The device name.")
    var devicename: String?
    @Option(help: "The device id.")
    var deviceid: String?
    @Option(help: "The image URL (http, https or file).")
    var image: String?
    @Option(name: .customLong("package"), help: "A package whose tests.xml is on the device (repeatable).")
    var packages: [String] = []
    @Option(name: .customLong("host-package"), help: "A package run on the worker host against the device (repeatable).")
    var hostPackages: [String] = []
    @Option(name: .customLong("test-definition"), help: "A test definition by URL (repeatable).")
    var testDefinitions: [String] = []
    @Option(help: "A testrunner-lite filter (its -l), like 'type=Functional'.")
    var testfilter: String?
    @Option(help: "How to split the packages into tasks: single, perpackage (default) or history.")
    var distributionModel: String?
    @Option(help: "Seconds the whole testrun may take.")
    var timeout: Int?
    @Option(help: "Priority from -100 to 100 (higher first).")
    var priority: Int?
    @Option(help: "Who asks (default: $USER).")
    var requestor: String?
    @Option(name: .customLong("notify"), help: "Who to tell about the result (repeatable).")
    var notify: [String] = []
    @Option(help: "Monitor detail: package, set, case or step.")
    var detailLevel: String?
    @Option(help: "The software product under test.")
    var swProduct: String?
    @Option(name: .customLong("request-id"), help: "The build request this testrun tests (shown with it, and in its e-mail).")
    var requestID: String?
    @Flag(name: .customLong("no-email"), help: "Tell --notify nothing by e-mail.")
    var noEmail = false
    @Flag(help: "Attach the results XML and JUnit to the e-mail.")
    var emailAttachments = false
    @Option(name: .customLong("flasher-option"), help: "An option for the flasher (repeatable).")
    var flasherOptions: [String] = []
    @Flag(help: "Let insignificant failures fail the testrun.")
    var countInsignificant = false

    @Flag(help: "Follow the testrun to its verdict, with progress.")
    var watch = false
    @Flag(help: "Print JSON instead of text.")
    var json = false

    func run() async throws {
        let request: TestrunRequest
        do {
            request = try makeRequest()
        } catch {
            printError("ots submit: \(error)")
            throw ExitCode(FarmExit.unusable)
        }
        let client: OTSClient
        do {
            client = try options.client
        } catch {
            throw fail("submit", error)
        }
        let view: TestrunView
        do {
            view = try await client.submit(request)
        } catch {
            throw fail("submit", error)
        }
        // Warnings go to standard error, so that the id (or JSON) stays alone on standard output.
        for warning in view.warnings ?? [] { printError("ots submit: warning: \(warning)") }
        guard watch else {
            if json { try printJSON(view) } else { print(view.id) }
            return
        }
        if !json { printError("testrun \(view.id) submitted") }
        let final = try await Watcher(client: client, quiet: json).follow(view)
        if json {
            try printJSON(final)
        } else {
            print(final.summaryLine)
        }
        throw ExitCode(FarmExit.code(for: final))
    }

    private func makeRequest() throws -> TestrunRequest {
        var request: TestrunRequest
        if let file {
            request = try Self.read(file)
        } else {
            guard let devicegroup else {
                throw ValidationError("give --devicegroup (or a request file with --file)")
            }
            request = TestrunRequest(device: DeviceProperties(devicegroup: devicegroup), packages: .init())
        }
        if let devicegroup { request.device.devicegroup = devicegroup }
        if let devicename { request.device.devicename = devicename }
        if let deviceid { request.device.deviceid = deviceid }
        if !packages.isEmpty { request.packages.device = packages }
        if !hostPackages.isEmpty { request.packages.host = hostPackages }
        if !testDefinitions.isEmpty { request.testDefinitions = testDefinitions }
        if !notify.isEmpty { request.notify = notify }
        if !flasherOptions.isEmpty { request.flasherOptions = flasherOptions }
        request.image = image ?? request.image
        request.testfilter = testfilter ?? request.testfilter
        request.distributionModel = distributionModel ?? request.distributionModel
        request.timeout = timeout ?? request.timeout
        request.priority = priority ?? request.priority
        request.swProduct = swProduct ?? request.swProduct
        request.requestID = requestID ?? request.requestID
        if noEmail { request.email = false }
        if emailAttachments { request.emailAttachments = true }
        request.requestor = requestor ?? request.requestor ?? ProcessInfo.processInfo.environment["USER"]
        if countInsignificant { request.countInsignificant = true }
        if let detailLevel {
            guard let level = TestrunRequest.DetailLevel(rawValue: detailLevel) else {
                throw ValidationError("--detail-level must be package, set, case or step")
            }
            request.detailLevel = level
        }
        return request
    }

    /// A request file: JSON, or TOML with the same keys.
    static func read(_ path: String) throws -> TestrunRequest {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("cannot read the request file \(path)")
        }
        var json = data
        if path.hasSuffix(".toml") {
            do {
                let table = try TOMLTable(string: String(decoding: data, as: UTF8.self))
                json = Data(table.convert(to: .json).utf8)
            } catch let error as TOMLParseError {
                throw ValidationError("\(path):\(error.source.begin.line): \(error.description)")
            }
        }
        do {
            return try JSONCoding.decoder().decode(TestrunRequest.self, from: json)
        } catch let error as DecodingError {
            throw ValidationError("\(path): \(Self.describe(error))")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        error.fieldPath.isEmpty ? error.fieldProblem : "\(error.fieldPath): \(error.fieldProblem)"
    }
}

/// Follows a testrun until it ends, drawing a progress bar on a terminal
/// (a line per change elsewhere).
struct Watcher {
    let client: OTSClient
    let quiet: Bool

    func follow(_ start: TestrunView) async throws -> TestrunView {
        let terminal = isatty(STDERR_FILENO) == 1
        var view = start
        var last = ""
        var failures = 0
        while !view.isEnded {
            try await Task.sleep(for: .milliseconds(500))
            do {
                view = try await client.testrun(id: view.id)
                failures = 0
            } catch {
                failures += 1
                if failures >= 20 { throw fail("submit", error) }
                continue
            }
            guard !quiet else { continue }
            let line = Self.progressLine(view)
            if line != last {
                if terminal {
                    FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
                } else {
                    printError(line)
                }
                last = line
            }
        }
        if terminal && !quiet { FileHandle.standardError.write(Data("\n".utf8)) }
        return view
    }

    static func progressLine(_ view: TestrunView) -> String {
        let total = max(1, view.progress.packagesTotal)
        let width = 20
        let filled = view.progress.packagesDone * width / total
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let phases = (view.tasks ?? []).filter { $0.state == .claimed || $0.state == .queued }.map {
            "task \($0.sequence + 1): \($0.state == .queued ? "queued" : ($0.phase ?? "claimed"))"
        }
        return
            "[\(bar)] \(view.state)  tasks \(view.progress.tasksDone)/\(view.progress.tasksTotal)  packages \(view.progress.packagesDone)/\(view.progress.packagesTotal)"
            + (phases.isEmpty ? "" : "  " + phases.joined(separator: ", "))
    }
}
