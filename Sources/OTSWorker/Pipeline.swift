import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import OTSClient
import OTSCore
import Synchronization
import TestDefinition
import TestRunner

/// What a worker instance does with one task: image → flash → boot → each
/// package through the runner → results and fetched files into the spool.
/// Every step emits its monitor event.
struct Pipeline: Sendable {
    let instance: WorkerConfiguration.Instance
    let workerID: String
    let sender: MonitorEvent.Sender
    let adapter: any DeviceAdapter
    let images: ImageCache
    let spool: Spool
    let workDirectory: String
    /// Asks the server before each set when the task says so.
    let client: OTSClient?
    let logger: Logger
    /// The image the device holds, as far as this instance knows.
    var device = DeviceMemory()
    /// `allow_host_packages`: whether steps may run on the worker host
    /// (host packages, definitions by URL on the local executor).
    var allowHostPackages = true
    /// `max_results_bytes`: the largest results XML the server takes.
    var maxResultsBytes = WorkerConfiguration.defaultMaxResultsBytes

    /// What this instance flashed and booted last, so that a task balancing
    /// gives it on the same image need not flash again. Forgotten when the
    /// process ends, or a flash or boot begins: then the device is flashed.
    final class DeviceMemory: Sendable {
        struct Image: Hashable {
            var url: String
            var checksum: String?
        }

        private let held = Mutex<Image?>(nil)

        var image: Image? { held.withLock { $0 } }
        func set(_ image: Image?) { held.withLock { $0 = image } }
    }

    /// A package that could not be run, and why.
    struct PackageProblem: Error {
        var message: String
    }

    /// Runs the task to its end; throws `CancellationError` when stopped.
    /// Runs the task; a device that powers off is powered off after it,
    /// however it ended (cancelled included), so that none is left running.
    func run(_ task: TaskAssignment) async throws -> TaskFinish {
        guard adapter.powersOff else { return try await runOnDevice(task) }
        do {
            let finish = try await runOnDevice(task)
            await powerOff(task)
            return finish
        } catch {
            await powerOff(task)
            throw error
        }
    }

    /// The power-off command, even when the task was cancelled; the device
    /// then holds no booted image for the next task.
    private func powerOff(_ task: TaskAssignment) async {
        let adapter = adapter
        let outcome = await Task { try? await adapter.powerOff() }.value
        device.set(nil)
        if outcome?.succeeded != true {
            logger.warning("task \(task.taskID): powering the device off failed: \(outcome?.message ?? "cancelled")")
        }
    }

    private func runOnDevice(_ task: TaskAssignment) async throws -> TaskFinish {
        let folder = workDirectory + "/tasks/" + task.taskID + "-\(task.attempt)"
        try? FileManager.default.removeItem(atPath: folder)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try emit(.taskStarted, task)
        if let refusal = hostRefusal(task) { return try fail(task, .user, refusal) }

        let wanted = task.image.map { DeviceMemory.Image(url: $0, checksum: task.imageChecksum?.lowercased()) }
        if task.deviceHoldsImage == true, let wanted, device.image == wanted {
            logger.info("task \(task.taskID): the device holds \(wanted.url) since its last task; not flashed or booted again")
        } else {
            if let failure = try await prepareDevice(task) { return failure }
            device.set(wanted)
        }

        var verdict = Verdict.pass
        var problems: [String] = []
        var deviceLost = false
        for (index, package) in task.work.packages.enumerated() {
            try Task.checkCancellation()
            let outcome = try await run(package, index: index, of: task, in: folder)
            switch outcome {
            case .ran(let packageVerdict, let lost):
                verdict = verdict.combined(with: packageVerdict)
                deviceLost = deviceLost || lost
            case .problem(let message):
                problems.append(message)
            }
            if deviceLost { break }
        }
        try emit(.resultsFinished, task)
        if deviceLost {
            device.set(nil)
            return try fail(task, .device, "the connection to the device was lost during the tests")
        }
        if !problems.isEmpty {
            // Each problem was reported as it happened; the task's end only carries them.
            return try fail(task, .user, problems.joined(separator: "; "), report: false)
        }
        return TaskFinish(workerID: workerID, verdict: verdict)
    }

    /// Why the task may not run here when `allow_host_packages` is off:
    /// it would run steps on the worker host itself.
    func hostRefusal(_ task: TaskAssignment) -> String? {
        guard !allowHostPackages else { return nil }
        let onHost = task.work.packages.filter { package in
            switch package.location {
            case .host: true
            case .url: instance.executor == .local
            case .device: false
            }
        }
        guard !onHost.isEmpty else { return nil }
        return "this worker does not run steps on its host (allow_host_packages = false), which "
            + onHost.map(\.name).joined(separator: ", ") + (onHost.count == 1 ? " needs" : " need")
            + ": ask for device packages, or a worker whose executor is not local"
    }

    /// Tries a device phase up to `tries` times; nil when a try succeeded,
    /// the last failure's message otherwise.
    private func devicePhase(
        _ task: TaskAssignment, tries: Int, started: EventType, finished: EventType,
        _ attempt: (Int) async throws -> DeviceOutcome
    ) async throws -> String? {
        var last = "no try"
        for number in 1...max(1, tries) {
            try emit(started, task) { $0.tryNumber = number }
            let clock = ContinuousClock()
            let start = clock.now
            let outcome = try await attempt(number)
            let elapsed = clock.now - start
            try emit(finished, task) {
                $0.tryNumber = number
                $0.outcome = outcome.succeeded ? "ok" : "failed"
                $0.durationMs = elapsed.milliseconds
                if !outcome.succeeded { $0.error = MonitorEvent.Failure(category: .device, message: outcome.message ?? "failed") }
            }
            if outcome.succeeded { return nil }
            last = outcome.message ?? "failed"
            logger.warning("\(finished.rawValue) try \(number) of \(tries) failed: \(last)")
        }
        return last
    }

    enum PackageOutcome {
        case ran(Verdict, deviceLost: Bool)
        case problem(String)
    }

    /// Downloads the image, flashes and boots the device; the task's end
    /// when one of them fails, nil when the device is ready.
    private func prepareDevice(_ task: TaskAssignment) async throws -> TaskFinish? {
        device.set(nil)
        var image: String?
        if let url = task.image {
            do {
                image = try await images.path(for: url, checksum: task.imageChecksum)
            } catch let error as WorkerError {
                return try fail(task, error.code == .refused ? .user : .image, error.message)
            }
        }
        if let failure = try await devicePhase(
            task, tries: adapter.flashTries, started: .flashStarted, finished: .flashFinished,
            { number in
                try await adapter.flash(image: image, options: task.flasherOptions ?? [], try: number)
            })
        {
            return try fail(task, .device, "flash failed after \(adapter.flashTries) tries: \(failure)")
        }
        if let failure = try await devicePhase(
            task, tries: adapter.bootTries, started: .bootStarted, finished: .bootFinished,
            { number in
                try await adapter.boot(try: number)
            })
        {
            attachConsoleLog(task)
            return try fail(task, .device, "boot failed after \(adapter.bootTries) tries: \(failure)")
        }
        return nil
    }

    /// The end of the device's console log (at most 256 KiB), as a file of
    /// the task under the device's own name: what the device said while
    /// it did not boot.
    private func attachConsoleLog(_ task: TaskAssignment) {
        guard let path = adapter.consoleLog, let handle = FileHandle(forReadingAtPath: path) else { return }
        defer { try? handle.close() }
        let limit: UInt64 = 256 * 1024
        let size = (try? handle.seekToEnd()) ?? 0
        try? handle.seek(toOffset: size > limit ? size - limit : 0)
        guard let content = try? handle.readToEnd(), !content.isEmpty else { return }
        do {
            try spool.add(
                .file(taskID: task.taskID, workerID: workerID, package: TaskWork.devicePackage, name: "console.log"), data: [UInt8](content)
            )
        } catch {
            logger.warning("task \(task.taskID): the console log \(path) could not be kept: \(error)")
        }
    }

    private func run(_ package: TaskWork.Package, index: Int, of task: TaskAssignment, in folder: String) async throws -> PackageOutcome {
        try emit(.packageStarted, task) { $0.package = package.name }
        let clock = ContinuousClock()
        let start = clock.now
        let definition: TestDefinition
        do {
            let (data, file) = try await testDefinition(of: package)
            definition = try DefinitionParser(lenient: true).parse(data, file: file)
        } catch let error as PackageProblem {
            return try packageProblem(package, task, error.message)
        } catch let error as DefinitionErrors {
            return try packageProblem(package, task, "package \(package.name): invalid tests.xml: \(error)")
        }
        let results = folder + "/\(index)"
        var configuration = RunConfiguration(resultsDirectory: results)
        configuration.mode = .automatic
        configuration.target = package.location == .host ? .local : try target()
        configuration.stepEnvironment = environment(task)
        if let filter = task.testfilter, !filter.isEmpty {
            do {
                configuration.filter = try TestFilter(parsing: filter)
            } catch {
                return try packageProblem(package, task, "testfilter: \(error.message)")
            }
        }
        if package.sets != nil || package.skipSets != nil {
            configuration.onlySets = Set(
                definition.suites.flatMap { suite in
                    suite.sets.filter { package.runs(set: $0.attributes.name) }.map {
                        SetReference(suite: suite.attributes.name, set: $0.attributes.name)
                    }
                })
        }
        configuration.setOrder = package.setOrder
        if task.askBeforeSets == true, let client {
            configuration.setGate = { [workerID, logger] reference in
                try await Self.mayStart(
                    reference.set, of: package.name, task: task.taskID, workerID: workerID, client: client, logger: logger)
            }
        }
        let detail = task.detailLevel
        let spool = self.spool
        let report = try await Runner(configuration: configuration, logger: logger).run(definition) { event in
            try? self.emit(event, package: package.name, task: task, detail: detail)
        }
        if report.abort == .interrupted || Task.isCancelled { throw CancellationError() }
        try emit(.resultsStarted, task) { $0.package = package.name }
        // The fetched files first (and the steps' whole outputs the runner
        // kept in output/), so that the server knows them when the results come.
        let kept = ((try? FileManager.default.contentsOfDirectory(atPath: results + "/output")) ?? []).map { "output/" + $0 }
        for name in (((try? FileManager.default.contentsOfDirectory(atPath: results)) ?? []) + kept).sorted() {
            guard let content = FileManager.default.contents(atPath: results + "/" + name) else { continue }
            try spool.add(.file(taskID: task.taskID, workerID: workerID, package: package.name, name: name), data: [UInt8](content))
        }
        // Milliseconds in step times: the farm's JUnit carries real case durations.
        let xml = Array(ResultsWriter.xml(report.results, fractionalSeconds: true).utf8)
        if xml.count > maxResultsBytes {
            return try packageProblem(package, task, keepOversized(xml, package: package.name, task: task))
        }
        try spool.add(.results(taskID: task.taskID, workerID: workerID, package: package.name), data: xml)
        let verdict = Self.verdict(of: report.results.allCases, task: task)
        try emit(.packageFinished, task) {
            $0.package = package.name
            $0.verdict = verdict.rawValue
            $0.durationMs = (clock.now - start).milliseconds
            // The history model learns it here for packages whose
            // definitions the server cannot read (on the device or host).
            if definition.keepWhole { $0.details = ["keep_whole": "true"] }
        }
        return .ran(verdict, deviceLost: report.abort == .connectionLost)
    }

    /// Keeps results too large for the server in the spool's `kept`
    /// folder; the message that says so.
    private func keepOversized(_ xml: [UInt8], package: String, task: TaskAssignment) -> String {
        let folder = spool.directory + "/kept"
        // A package by URL is named by its URL.
        let name = String(package.map { $0.isASCII && ($0.isLetter || $0.isNumber || "._+-".contains($0)) ? $0 : "_" }.suffix(100))
        let path = folder + "/" + task.taskID + "-\(task.attempt)-" + name + ".xml"
        var message =
            "package \(package): its results are \(xml.count) bytes, more than the server takes "
            + "(max_results_bytes = \(maxResultsBytes)): not sent"
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        do throws(Spool.WriteError) {
            try Spool.write(xml, to: path)
            message += "; kept on the worker host \(sender.host) at \(path)"
        } catch {
            message += "; they could not be kept on the worker: \(error.reason)"
        }
        return message
    }

    /// Whether to run a set: the server knows whether dynamic balancing
    /// moved it. Without an answer the set waits, so that it runs once: a
    /// server long gone ends the task by its lease anyway.
    static func mayStart(_ set: String, of package: String, task: String, workerID: String, client: OTSClient, logger: Logger)
        async throws -> Bool
    {
        while true {
            do {
                return try await client.startSet(taskID: task, SetStart(workerID: workerID, package: package, set: set))
            } catch let error where !error.isTransient {
                // The task is no longer ours (the heartbeat stops it): run nothing more.
                logger.warning("set \(set) of \(package): \(error.message); not run")
                return false
            } catch {
                logger.warning("cannot ask whether to run set \(set) of \(package): \(error.message); asking again")
                try await Task.sleep(for: .seconds(1))
            }
        }
    }

    private func packageProblem(_ package: TaskWork.Package, _ task: TaskAssignment, _ message: String) throws -> PackageOutcome {
        logger.error("\(message)")
        try emit(.failure, task) {
            $0.package = package.name
            $0.error = MonitorEvent.Failure(category: .user, message: message)
        }
        try emit(.packageFinished, task) {
            $0.package = package.name
            $0.verdict = Verdict.error.rawValue
        }
        return .problem(message)
    }

    /// The package's tests.xml and the name to report problems with.
    private func testDefinition(of package: TaskWork.Package) async throws -> (Data, String) {
        if let definition = package.definition { return (Data(definition.utf8), "the definition \(package.name) sent with the request") }
        switch package.location {
        case .url:
            return (try await download(package.name), package.name)
        case .device:
            if case .ssh = instance.executor {
                return try await readOnTarget("/usr/share/\(package.name)/tests.xml")
            }
            if case .chroot(let root) = instance.executor {
                let path = root + "/usr/share/\(package.name)/tests.xml"
                if let data = FileManager.default.contents(atPath: path) { return (data, path) }
            }
            return try fromPackagesDirectory(package.name)
        case .host:
            return try fromPackagesDirectory(package.name)
        }
    }

    private func fromPackagesDirectory(_ name: String) throws -> (Data, String) {
        guard let directory = instance.packagesDirectory else {
            throw PackageProblem(message: "package \(name): this worker has no packages_dir to find its tests.xml in")
        }
        let path = directory + "/" + name + "/tests.xml"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PackageProblem(message: "package \(name): no tests.xml at \(path)")
        }
        return (data, path)
    }

    private func readOnTarget(_ path: String) async throws -> (Data, String) {
        let scratch = workDirectory + "/scratch"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        let outcome = try await CommandRunner(scratchDirectory: scratch, inlineLimit: 16 * 1024 * 1024)
            .run(try target().arguments(for: "cat \(path)"), timeout: .seconds(120))
        defer { outcome.removeFiles() }
        guard outcome.termination.returnCode == 0 else {
            throw PackageProblem(message: "no tests.xml at \(path) on the device: \(outcome.stderr.text.prefix(300))")
        }
        return (Data(outcome.stdout.head), path)
    }

    /// The largest test definition read.
    static let maxDefinitionBytes = 64 * 1024 * 1024

    private func download(_ url: String) async throws -> Data {
        let target: URLPolicy.Target
        do {
            target = try images.policy.check(url, what: "test definition")
        } catch {
            throw PackageProblem(message: error.message)
        }
        if case .file(let path) = target {
            do {
                return try URLPolicy.readRegularFile(path, limit: Self.maxDefinitionBytes, what: "test definition \(url)")
            } catch {
                throw PackageProblem(message: error.message)
            }
        }
        do {
            let response = try await images.policy.fetch(url, with: images.http, timeout: .seconds(120), what: "test definition")
            guard response.status.code == 200 else {
                throw PackageProblem(message: "test definition \(url): the server answered \(response.status.code)")
            }
            return Data(try await response.body.collect(upTo: Self.maxDefinitionBytes).readableBytesView)
        } catch let error as PackageProblem {
            throw error
        } catch let error as WorkerError {
            throw PackageProblem(message: error.message)
        } catch {
            throw PackageProblem(message: "cannot download the test definition \(url): \(error)")
        }
    }

    /// Values for placeholders: the instance's, and the device's properties.
    var values: [String: String] { instance.placeholders }

    func target() throws -> ExecutionTarget {
        do {
            switch instance.executor {
            case .local: return .local
            case .chroot(let root): return .chroot(root)
            case .ssh(let text):
                var ssh = try SSHTarget(parsing: try CommandTemplate([text]).arguments(values)[0])
                if let key = instance.sshKey { ssh.options = ["-i", key] }
                return .ssh(ssh)
            case .external(let words): return .external(try CommandTemplate(words).arguments(values))
            }
        } catch let error as WorkerError {
            throw PackageProblem(message: "executor: \(error.message)")
        } catch let error as RunnerError {
            throw PackageProblem(message: "executor: \(error.message)")
        }
    }

    /// What steps see of the task and the device.
    private func environment(_ task: TaskAssignment) -> [String: String] {
        var environment = ["OTS_TESTRUN_ID": task.testrunID, "OTS_TASK_ID": task.taskID, "OTS_ATTEMPT": String(task.attempt)]
        for (key, value) in values {
            environment["OTS_" + key.uppercased().map { $0.isLetter || $0.isNumber ? $0 : "_" }.map(String.init).joined()] = value
        }
        // The image the device was flashed with, and the product.
        environment["OTS_IMAGE"] = task.image
        environment["OTS_IMAGE_CHECKSUM"] = task.imageChecksum
        environment["OTS_SW_PRODUCT"] = task.swProduct
        return environment
    }

    // MARK: Events

    func emit(_ type: EventType, _ task: TaskAssignment, _ configure: (inout MonitorEvent) -> Void = { _ in }) throws {
        var event = MonitorEvent(type: type, sender: sender, testrunID: task.testrunID, taskID: task.taskID, attempt: task.attempt)
        configure(&event)
        try spool.add(.events([event]))
    }

    private func emit(_ event: RunEvent, package: String, task: TaskAssignment, detail: TestrunRequest.DetailLevel) throws {
        switch event {
        case .setFinished(_, let set, let result, let duration) where detail != .package:
            try emit(.setFinished, task) {
                $0.package = package
                $0.set = set
                $0.durationMs = duration.milliseconds
                $0.verdict = Self.verdict(of: result.cases, task: task).rawValue
            }
        case .caseFinished(_, let set, let result):
            // A failing case is an error of category test, whatever the detail level.
            let rules = task.verdictRules
            if rules.isFailure(result: result.result.rawValue) && rules.countsFailure(insignificant: result.isInsignificant) {
                let what = result.result == .fail ? "failed" : "did not pass (\(result.result.rawValue))"
                try emit(.failure, task) {
                    $0.package = package
                    $0.set = set
                    $0.testCase = result.name
                    $0.error = MonitorEvent.Failure(
                        category: .test, message: "case \(result.name) \(what): \(result.failureInfo ?? "no failure info")")
                }
            }
            guard detail == .case || detail == .step else { return }
            try emit(.caseFinished, task) {
                $0.package = package
                $0.set = set
                $0.testCase = result.name
                $0.verdict = result.result.rawValue
            }
        case .stepFinished(_, let set, let testCase, let step) where detail == .step:
            try emit(.stepFinished, task) {
                $0.package = package
                $0.set = set
                $0.testCase = testCase
                $0.verdict = step.result.rawValue
            }
        default:
            break
        }
    }

    private func fail(_ task: TaskAssignment, _ category: ErrorCategory, _ message: String, report: Bool = true) throws -> TaskFinish {
        logger.error("task \(task.taskID): \(message)")
        if report {
            try emit(.failure, task) { $0.error = MonitorEvent.Failure(category: category, message: message) }
        }
        return TaskFinish(workerID: workerID, error: TaskFinish.Failure(category: category, message: message))
    }
}

extension TaskAssignment {
    /// The rules of the testrun's verdict, as the request gave them.
    var verdictRules: VerdictRules { VerdictRules(countInsignificant: countInsignificant ?? false, mode: verdictMode ?? .ots) }
}

extension Pipeline {
    /// The verdict of cases that ran, by the testrun's rules: FAIL when a
    /// failed case counts (an insignificant one only with
    /// `count_insignificant`; under the original's rules, N/A fails too).
    static func verdict(of cases: [CaseResult], task: TaskAssignment) -> Verdict {
        let failed = cases.filter { task.verdictRules.isFailure(result: $0.result.rawValue) }
        return task.verdictRules.verdict(
            failedSignificantCases: failed.filter { !$0.isInsignificant }.count,
            failedInsignificantCases: failed.filter(\.isInsignificant).count)
    }
}
