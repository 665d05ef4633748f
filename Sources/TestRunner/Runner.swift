import Foundation
import Logging
import TestDefinition

/// Executes test definitions the way testrunner-lite does.
///
///     let runner = Runner(configuration: RunConfiguration(resultsDirectory: "results"))
///     let results = try await runner.run(definition)
///
/// - A step passes when its exit code equals its `expected_result`; the
///   first failing step fails its case, and the case's remaining steps are
///   written as N/A without running.
/// - Each step of a case is bounded by the case's timeout (inherited from
///   set and suite, 90 s by default); on expiry the step's process group is
///   killed and step and case fail.
/// - A failing pre-step fails every case of its set with the comment
///   "pre_steps failed"; post-steps run in any case.
/// - Suites and sets whose `hwid` differs from the detected hardware id are
///   skipped and not written.
public struct Runner: Sendable {
    public var configuration: RunConfiguration
    /// Answers manual cases and steps; nil writes them as N/A.
    public var manualJudge: ManualJudge?
    private let logger: Logger

    public init(configuration: RunConfiguration, manualJudge: ManualJudge? = nil, logger: Logger = Logger(label: "ots.runner")) {
        self.configuration = configuration
        self.manualJudge = manualJudge
        self.logger = logger
    }

    /// The comment of every case whose set's pre-steps failed.
    public static let preStepsFailedComment = "pre_steps failed"

    /// Runs the definition and returns its results; `onEvent` hears about
    /// each step, case and set as it finishes.
    public func run(
        _ definition: TestDefinition,
        onEvent: @escaping @Sendable (RunEvent) -> Void = { _ in }
    ) async throws -> TestResults {
        let scratch = FileManager.default.temporaryDirectory.path + "/ots-run-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        try prepareResultsDirectory()

        var execution = Execution(
            configuration: configuration,
            manualJudge: manualJudge,
            commands: CommandRunner(scratchDirectory: scratch, inlineLimit: configuration.inlineOutputLimit),
            onEvent: onEvent,
            logger: logger
        )
        return try await execution.run(definition)
    }

    private func prepareResultsDirectory() throws(RunnerError) {
        do {
            try FileManager.default.createDirectory(atPath: configuration.resultsDirectory, withIntermediateDirectories: true)
        } catch {
            throw RunnerError(.outputUnwritable, "cannot create the results folder \(configuration.resultsDirectory): \(error.localizedDescription)")
        }
        guard FileManager.default.isWritableFile(atPath: configuration.resultsDirectory) else {
            throw RunnerError(.outputUnwritable, "cannot write to the results folder \(configuration.resultsDirectory)")
        }
    }
}

/// Decides manual cases: given what to do, returns the outcome, or nil when
/// no one can answer.
public typealias ManualJudge = @Sendable (ManualPrompt) async -> TestOutcome?

/// A manual case or step for a person to carry out and judge.
public struct ManualPrompt: Sendable {
    public var suite: String
    public var set: String
    public var caseName: String
    public var description: String?
    /// The instruction (the step's text).
    public var instruction: String
}

/// The state of one run.
private struct Execution {
    let configuration: RunConfiguration
    let manualJudge: ManualJudge?
    let commands: CommandRunner
    let onEvent: @Sendable (RunEvent) -> Void
    let logger: Logger
    var hardwareID: String?
    /// Names of files already written to the results folder.
    var usedNames: Set<String> = []

    init(
        configuration: RunConfiguration,
        manualJudge: ManualJudge?,
        commands: CommandRunner,
        onEvent: @escaping @Sendable (RunEvent) -> Void,
        logger: Logger
    ) {
        self.configuration = configuration
        self.manualJudge = manualJudge
        self.commands = commands
        self.onEvent = onEvent
        self.logger = logger
    }

    var target: ExecutionTarget { configuration.target }

    mutating func run(_ definition: TestDefinition) async throws -> TestResults {
        try await checkConnection()
        var results = TestResults(environment: configuration.environment, description: definition.description)
        if configuration.collectHardwareInfo {
            results.hwproduct = await query("cat /sys/devices/virtual/dmi/id/product_name 2>/dev/null || uname -m")
            results.hwbuild = await query("uname -r")
        }
        if let detect = definition.hwiddetect, !detect.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            hardwareID = await query(detect)
            results.hwiddetect = hardwareID
        }
        for suite in definition.suites {
            guard hardwareMatches(suite.attributes.hwid) else {
                logger.info("skipping suite \(suite.name): hwid \(suite.attributes.hwid ?? "") does not match \(hardwareID ?? "")")
                continue
            }
            var suiteResult = SuiteResult(attributes: suite.attributes, description: suite.descriptionText)
            for set in suite.sets {
                try Task.checkCancellation()
                if let setResult = try await run(set, in: suite) {
                    suiteResult.sets.append(setResult)
                }
            }
            if !suiteResult.sets.isEmpty {
                results.suites.append(suiteResult)
            }
        }
        return results
    }

    /// For targets on another machine: fail early, with testrunner-lite's
    /// exit code 2, when the target cannot be reached.
    private func checkConnection() async throws {
        guard case .ssh(let ssh) = target else { return }
        let outcome = try await commands.run(target.arguments(for: "true"), timeout: .seconds(30))
        discard(outcome)
        if outcome.termination != .exited(0) {
            let reason = outcome.stderr.text.trimmingCharacters(in: .whitespacesAndNewlines)
            throw RunnerError(.connectionFailure, "cannot reach the target \(ssh)" + (reason.isEmpty ? "" : ": \(reason)"))
        }
    }

    /// Runs a short command on the target and returns its trimmed output.
    private func query(_ command: String) async -> String {
        guard let outcome = try? await commands.run(target.arguments(for: command), timeout: .seconds(GeneralAttributes.defaultTimeout))
        else { return "" }
        discard(outcome)
        return outcome.stdout.text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private func discard(_ outcome: CommandOutcome) {
        for file in [outcome.stdout.overflowFile, outcome.stderr.overflowFile].compactMap({ $0 }) {
            try? FileManager.default.removeItem(atPath: file)
        }
    }

    /// A suite or set runs when it names no hwid, when no hwid was detected,
    /// or when one of its comma-separated hwids is the detected one.
    private func hardwareMatches(_ hwid: String?) -> Bool {
        guard let hwid, let hardwareID else { return true }
        return hwid.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces) == hardwareID }
    }

    // MARK: Sets

    private mutating func run(_ set: TestSet, in suite: Suite) async throws -> SetResult? {
        let setAttributes = set.attributes.inheriting(from: suite.attributes)
        guard hardwareMatches(set.attributes.hwid), set.runs(in: configuration.environment),
            configuration.filter.admits(set: set),
            configuration.onlySets?.contains(SetReference(suite: suite.name, set: set.name)) ?? true
        else {
            return nil
        }
        let cases = set.cases.filter { testCase in
            let attributes = testCase.attributes.inheriting(from: setAttributes)
            guard configuration.filter.admits(case: testCase, attributes: attributes, in: set) else { return false }
            if configuration.mode == .manual && !(attributes.manual ?? false) { return false }
            return true
        }
        guard !cases.isEmpty else { return nil }

        let started = ContinuousClock.now
        onEvent(.setStarted(suite: suite.name, set: set.name))
        var result = SetResult(
            attributes: set.attributes,
            environment: configuration.environment,
            description: set.descriptionText,
            get: set.get
        )
        var context = SetContext(suite: suite.name, set: set.name, setAttributes: setAttributes, postReboot: set.postRebootSteps)

        var preStepsFailed = false
        if let pre = set.preSteps {
            let timeout = pre.timeout ?? GeneralAttributes.defaultTimeout
            for step in pre.steps {
                if preStepsFailed {
                    result.preSteps.append(notRun(step))
                    continue
                }
                let stepResult = try await execute(step, timeout: timeout, context: context, label: "pre")
                result.preSteps.append(stepResult)
                if stepResult.result == .fail {
                    preStepsFailed = true
                    onEvent(.warning("pre-step '\(step.command)' of set \(set.name) failed: \(stepResult.failureInfo ?? "")"))
                }
            }
        }

        for testCase in cases {
            try Task.checkCancellation()
            let attributes = testCase.attributes.inheriting(from: setAttributes)
            context.caseName = testCase.name
            var caseResult: CaseResult
            if preStepsFailed {
                caseResult = base(testCase, attributes: attributes, result: .fail)
                caseResult.comment = Runner.preStepsFailedComment
                caseResult.failureInfo = Runner.preStepsFailedComment
                caseResult.steps = testCase.steps.map { notRun($0) }
            } else {
                caseResult = try await run(testCase, attributes: attributes, context: &context)
            }
            onEvent(.caseFinished(suite: suite.name, set: set.name, result: caseResult))
            result.cases.append(caseResult)
        }
        context.caseName = nil

        if let post = set.postSteps {
            let timeout = post.timeout ?? GeneralAttributes.defaultTimeout
            for step in post.steps {
                let stepResult = try await execute(step, timeout: timeout, context: context, label: "post")
                result.postSteps.append(stepResult)
                if stepResult.result == .fail {
                    onEvent(.warning("post-step '\(step.command)' of set \(set.name) failed: \(stepResult.failureInfo ?? "")"))
                }
            }
        }

        // Files of the set: fetched after it; measurements in them judge
        // every case of the set.
        let fetched = await fetch(set.get, context: context)
        if !fetched.measurements.isEmpty || !fetched.series.isEmpty || !fetched.failures.isEmpty {
            for index in result.cases.indices {
                apply(fetched, to: &result.cases[index])
            }
        }

        onEvent(
            .setFinished(suite: suite.name, set: set.name, result: result, duration: ContinuousClock.now - started)
        )
        return result
    }

    private struct SetContext {
        var suite: String
        var set: String
        var setAttributes: GeneralAttributes
        var postReboot: StepGroup?
        var caseName: String?
        var stepCounter = 0
    }

    // MARK: Cases

    private func base(_ testCase: TestCase, attributes: GeneralAttributes, result: TestOutcome) -> CaseResult {
        var written = testCase.attributes
        // The results carry what decides the verdict even when inherited.
        written.insignificant = attributes.insignificant
        written.timeout = attributes.timeout ?? GeneralAttributes.defaultTimeout
        written.type = attributes.type
        written.level = attributes.level
        written.feature = attributes.feature
        written.requirement = attributes.requirement
        written.component = attributes.component
        written.domain = attributes.domain
        written.manual = attributes.manual
        return CaseResult(
            attributes: written,
            result: result,
            subfeature: testCase.subfeature,
            bugzillaID: testCase.bugzillaID,
            tcID: testCase.tcID,
            state: testCase.state,
            description: testCase.descriptionText
        )
    }

    private mutating func run(_ testCase: TestCase, attributes: GeneralAttributes, context: inout SetContext) async throws
        -> CaseResult
    {
        var result = base(testCase, attributes: attributes, result: .notApplicable)
        let isManual = attributes.manual ?? false
        if testCase.state == "Design" {
            result.comment = "case in state Design is not executed"
            result.steps = testCase.steps.map { notRun($0) }
            return result
        }
        if testCase.steps.isEmpty {
            result.comment = "case has no steps"
            result.events = testCase.items.compactMap { item in
                if case .event(let event) = item { self.notRun(event) } else { nil }
            }
            return result
        }
        if isManual && configuration.mode == .automatic {
            result.comment = "manual case, not executed in automatic mode"
            result.steps = testCase.steps.map { notRun($0) }
            return result
        }

        let timeout = attributes.timeout ?? GeneralAttributes.defaultTimeout
        var failed = false
        var passedAny = false
        for item in testCase.items {
            switch item {
            case .event(let event):
                // Events need a listener on the target that OTS does not
                // provide; they are recorded, not judged.
                result.events.append(notRun(event))
            case .step(let step):
                if failed {
                    result.steps.append(notRun(step))
                    continue
                }
                try Task.checkCancellation()
                let stepResult: StepResult
                if step.manual == true && configuration.mode == .automatic {
                    stepResult = notRun(step)
                } else if isManual || step.manual == true {
                    stepResult = await judgeManually(step, testCase: testCase, context: context)
                } else {
                    stepResult = try await execute(step, timeout: timeout, context: context, label: "step")
                }
                result.steps.append(stepResult)
                switch stepResult.result {
                case .fail:
                    failed = true
                    result.failureInfo = stepResult.failureInfo
                case .pass:
                    passedAny = true
                case .notApplicable:
                    break
                }
            }
        }
        result.result = failed ? .fail : (passedAny ? .pass : .notApplicable)
        if !failed && !passedAny {
            result.comment = isManual ? "manual case not judged" : "no step was executed"
        }

        let fetched = await fetch(testCase.get, context: context)
        apply(fetched, to: &result)
        return result
    }

    // MARK: Steps

    private mutating func execute(_ step: Step, timeout seconds: Int, context: SetContext, label: String) async throws
        -> StepResult
    {
        if step.manual == true && configuration.mode == .automatic {
            return notRun(step, comment: nil)
        }
        let outcome: CommandOutcome
        do {
            outcome = try await commands.run(
                target.arguments(for: step.command),
                timeout: .seconds(seconds),
                environment: configuration.stepEnvironment
            )
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            let now = Date()
            let result = StepResult(
                command: step.command,
                result: .fail,
                manual: step.manual,
                control: step.control,
                failureInfo: "could not start the step: \(error)",
                expectedResult: step.expectedResult,
                returnCode: nil,
                start: now,
                end: now
            )
            onEvent(.stepFinished(suite: context.suite, set: context.set, case: context.caseName, step: result))
            return result
        }
        var result = StepResult(
            command: step.command,
            result: .pass,
            manual: step.manual,
            control: step.control,
            expectedResult: step.expectedResult,
            returnCode: outcome.termination.returnCode,
            start: outcome.start,
            end: outcome.end,
            stdout: keep(outcome.stdout, stream: "stdout", context: context, label: label),
            stderr: keep(outcome.stderr, stream: "stderr", context: context, label: label)
        )
        let rebootExpected = step.control == "reboot_expected"
        if outcome.timedOut {
            result.result = .fail
            result.failureInfo = "timeout: the step ran longer than \(seconds) s and was killed"
        } else if outcome.termination.returnCode != step.expectedResult {
            // A target that goes away while rebooting as it was told to is
            // not a failure.
            let lostConnection = outcome.termination.returnCode == 255 && target.isRemote
            if !(rebootExpected && lostConnection) {
                result.result = .fail
                result.failureInfo = "return code \(outcome.termination.returnCode), expected \(step.expectedResult)"
            }
        }
        if result.result == .pass, step.control == "reboot" || rebootExpected, let group = context.postReboot {
            try await waitForTarget()
            let timeout = group.timeout ?? GeneralAttributes.defaultTimeout
            for rebootStep in group.steps {
                let rebootResult = try await execute(rebootStep, timeout: timeout, context: context, label: "reboot")
                result.postRebootSteps.append(rebootResult)
                if rebootResult.result == .fail {
                    result.result = .fail
                    result.failureInfo = "post-reboot step failed: \(rebootResult.failureInfo ?? "")"
                    break
                }
            }
        }
        onEvent(.stepFinished(suite: context.suite, set: context.set, case: context.caseName, step: result))
        return result
    }

    /// After a reboot: wait until the target answers again (up to five minutes).
    private func waitForTarget() async throws {
        guard target.isRemote else { return }
        let deadline = ContinuousClock.now + .seconds(300)
        while ContinuousClock.now < deadline {
            try Task.checkCancellation()
            if let outcome = try? await commands.run(target.arguments(for: "true"), timeout: .seconds(15)) {
                discard(outcome)
                if outcome.termination == .exited(0) { return }
            }
            try await Task.sleep(for: .seconds(2))
        }
        throw RunnerError(.connectionFailure, "the target did not come back within 300 s after a reboot")
    }

    private func judgeManually(_ step: Step, testCase: TestCase, context: SetContext) async -> StepResult {
        let start = Date()
        var outcome: TestOutcome?
        if let manualJudge {
            outcome = await manualJudge(
                ManualPrompt(
                    suite: context.suite,
                    set: context.set,
                    caseName: testCase.name,
                    description: testCase.descriptionText ?? testCase.attributes.description,
                    instruction: step.command
                )
            )
        }
        let result = StepResult(
            command: step.command,
            result: outcome ?? .notApplicable,
            manual: true,
            control: step.control,
            failureInfo: outcome == .fail ? "judged failed by the tester" : nil,
            expectedResult: step.expectedResult,
            returnCode: nil,
            start: start,
            end: Date()
        )
        onEvent(.stepFinished(suite: context.suite, set: context.set, case: context.caseName, step: result))
        return result
    }

    private func notRun(_ step: Step, comment: String? = nil) -> StepResult {
        let now = Date()
        return StepResult(
            command: step.command,
            result: .notApplicable,
            manual: step.manual,
            control: step.control,
            failureInfo: comment,
            expectedResult: step.expectedResult,
            returnCode: nil,
            start: now,
            end: now
        )
    }

    private func notRun(_ event: TestEvent) -> EventResult {
        EventResult(kind: event.kind, resource: event.resource, timeout: event.timeout, params: event.params, result: .notApplicable)
    }

    /// The text a step's stream leaves in the results; output beyond the
    /// inline limit is kept whole in a file beside the results.
    private mutating func keep(_ output: CapturedOutput, stream: String, context: SetContext, label: String) -> String {
        guard let overflow = output.overflowFile else { return output.text }
        let folder = configuration.resultsDirectory + "/output"
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let base = [context.suite, context.set, context.caseName ?? label].map(Self.safeName).joined(separator: "_")
        let name = uniqueName("output/" + base + "_" + label + "." + stream)
        do {
            try FileManager.default.moveItem(atPath: overflow, toPath: configuration.resultsDirectory + "/" + name)
            return output.text + "\n[output truncated: \(output.totalBytes) bytes in all; the whole output is in \(name)]"
        } catch {
            try? FileManager.default.removeItem(atPath: overflow)
            return output.text + "\n[output truncated: \(output.totalBytes) bytes in all; the rest could not be kept: \(error.localizedDescription)]"
        }
    }

    private mutating func uniqueName(_ wanted: String) -> String {
        var name = wanted
        var counter = 1
        while usedNames.contains(name) || FileManager.default.fileExists(atPath: configuration.resultsDirectory + "/" + name) {
            counter += 1
            name = wanted + "." + String(counter)
        }
        usedNames.insert(name)
        return name
    }

    static func safeName(_ text: String) -> String {
        let mapped = text.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." ? $0 : "_" }
        let name = String(mapped).trimmingCharacters(in: CharacterSet(charactersIn: "."))
        return name.isEmpty ? "_" : String(name.prefix(80))
    }

    // MARK: Files

    private struct Fetched {
        var measurements: [TestMeasurement] = []
        var series: [MeasurementSeries] = []
        /// Measurement files that could not be fetched or read.
        var failures: [String] = []
    }

    private mutating func fetch(_ files: [FetchFile], context: SetContext) async -> Fetched {
        var fetched = Fetched()
        for file in files {
            let destinationName = uniqueName((file.path as NSString).lastPathComponent.isEmpty ? "file" : (file.path as NSString).lastPathComponent)
            let destination = configuration.resultsDirectory + "/" + destinationName
            let copied = await copyFromTarget(file.path, to: destination)
            if let problem = copied {
                let message = "could not fetch \(file.path): \(problem)"
                onEvent(.warning(message))
                if file.measurement || file.series { fetched.failures.append(message) }
                continue
            }
            if file.deleteAfter {
                await deleteOnTarget(file.path)
            }
            guard file.measurement || file.series else { continue }
            do {
                let text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: destination)), as: UTF8.self)
                if file.measurement {
                    fetched.measurements += try MeasurementFile.measurements(in: text, file: file.path)
                } else {
                    fetched.series.append(try MeasurementFile.series(in: text, file: file.path))
                }
            } catch {
                let message = "measurement file \(error)"
                onEvent(.warning(message))
                fetched.failures.append(message)
            }
        }
        return fetched
    }

    /// Copies a file from the target; returns why it failed, or nil.
    private func copyFromTarget(_ path: String, to destination: String) async -> String? {
        if let getter = configuration.getter {
            return await runGetter(getter, file: path, destination: destination)
        }
        if let local = target.localPath(of: path) {
            do {
                try FileManager.default.copyItem(atPath: local, toPath: destination)
                return nil
            } catch {
                return FileManager.default.fileExists(atPath: local) ? error.localizedDescription : "no such file"
            }
        }
        if case .ssh(let ssh) = target {
            return await runCopy(ssh.scpArguments(remote: path, local: destination), destination: destination)
        }
        // An external executor: read the file through it.
        do {
            let outcome = try await CommandRunner(scratchDirectory: commands.scratchDirectory, inlineLimit: 0).run(
                target.arguments(for: "cat -- " + Self.shellQuoted(path)),
                timeout: .seconds(GeneralAttributes.defaultTimeout)
            )
            defer { discard(outcome) }
            guard outcome.termination == .exited(0) else {
                return "cat exited with \(outcome.termination.returnCode): \(outcome.stderr.text)"
            }
            if let whole = outcome.stdout.overflowFile {
                try FileManager.default.moveItem(atPath: whole, toPath: destination)
            } else {
                FileManager.default.createFile(atPath: destination, contents: Data())
            }
            return nil
        } catch {
            return "\(error)"
        }
    }

    private func runGetter(_ words: [String], file: String, destination: String) async -> String? {
        var arguments = words
        let hasPlaceholders = arguments.contains { $0.contains("<FILE>") || $0.contains("<DEST>") }
        if hasPlaceholders {
            arguments = arguments.map {
                $0.replacingOccurrences(of: "<FILE>", with: file).replacingOccurrences(of: "<DEST>", with: destination)
            }
        } else {
            arguments += [file, destination]
        }
        return await runCopy(arguments, destination: destination)
    }

    private func runCopy(_ arguments: [String], destination: String) async -> String? {
        do {
            let outcome = try await commands.run(
                arguments,
                timeout: .seconds(GeneralAttributes.defaultTimeout),
                environment: configuration.stepEnvironment
            )
            discard(outcome)
            guard outcome.termination == .exited(0), FileManager.default.fileExists(atPath: destination) else {
                let reason = outcome.stderr.text.trimmingCharacters(in: .whitespacesAndNewlines)
                return "\(arguments[0]) exited with \(outcome.termination.returnCode)" + (reason.isEmpty ? "" : ": \(reason)")
            }
            return nil
        } catch {
            return "\(error)"
        }
    }

    private func deleteOnTarget(_ path: String) async {
        if let local = target.localPath(of: path) {
            try? FileManager.default.removeItem(atPath: local)
            return
        }
        if let outcome = try? await commands.run(
            target.arguments(for: "rm -f -- " + Self.shellQuoted(path)),
            timeout: .seconds(GeneralAttributes.defaultTimeout)
        ) {
            discard(outcome)
        }
    }

    /// Single-quotes a path for the target's shell.
    static func shellQuoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    private func apply(_ fetched: Fetched, to result: inout CaseResult) {
        result.measurements += fetched.measurements
        result.series += fetched.series
        // A case that did not run is not judged by files fetched after it.
        guard result.result != .notApplicable else { return }
        if let failure = fetched.failures.first {
            if result.result != .fail { result.failureInfo = failure }
            result.result = .fail
            return
        }
        guard configuration.measurementVerdict else { return }
        if let broken = fetched.measurements.first(where: \.breaksFailureLimit) {
            if result.result != .fail {
                result.failureInfo =
                    "measurement \(broken.name) = \(broken.value) \(broken.unit) is beyond its failure limit \(broken.failure ?? 0)"
            }
            result.result = .fail
        } else if let broken = fetched.series.first(where: \.breaksFailureLimit) {
            if result.result != .fail {
                result.failureInfo = "series \(broken.name) is beyond its failure limit \(broken.failure ?? 0)"
            }
            result.result = .fail
        }
    }
}
