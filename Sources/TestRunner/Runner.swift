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
/// - A failing pre-step with an `expected_result` fails every case of its
///   set with the comment "pre_steps failed", without running them; the
///   set's post-steps do not run either and are written N/A.
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

    /// The product and build commands, those of testrunner-lite's Sailfish
    /// hardware-info plugin: ssu-sysinfo where there is one, else os-release.
    static let productCommand =
        "if which ssu-sysinfo > /dev/null 2>&1; then ssu-sysinfo -m; else . /etc/os-release; echo $ID; fi"
    static let buildCommand =
        "if which ssu-sysinfo > /dev/null 2>&1; then ssu-sysinfo -p; else . /etc/os-release; echo $PRETTY_NAME; fi"

    /// Runs the definition and returns its results; `onEvent` hears about
    /// each step, case and set as it finishes.
    ///
    /// When the target is lost mid-run, or the task is cancelled, the steps
    /// still to run are written as FAIL without running, and `abort` in the
    /// report says why (testrunner-lite's bail-out).
    public func run(
        _ definition: TestDefinition,
        onEvent: @escaping @Sendable (RunEvent) -> Void = { _ in }
    ) async throws -> RunReport {
        let scratch = FileManager.default.temporaryDirectory.path + "/ots-run-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        try prepareResultsDirectory()

        var execution = Execution(
            configuration: configuration,
            manualJudge: manualJudge,
            commands: {
                var commands = CommandRunner(
                    scratchDirectory: scratch,
                    inlineLimit: configuration.inlineOutputLimit,
                    environment: configuration.stepEnvironment
                )
                commands.utf8Limit = configuration.utf8Limit
                return commands
            }(),
            onEvent: onEvent,
            logger: logger
        )
        let results = try await execution.run(definition)
        return RunReport(results: results, abort: execution.abort)
    }

    private func prepareResultsDirectory() throws(RunnerError) {
        do {
            try FileManager.default.createDirectory(atPath: configuration.resultsDirectory, withIntermediateDirectories: true)
        } catch {
            throw RunnerError(
                .outputUnwritable, "cannot create the results folder \(configuration.resultsDirectory): \(error.localizedDescription)")
        }
        guard FileManager.default.isWritableFile(atPath: configuration.resultsDirectory) else {
            throw RunnerError(.outputUnwritable, "cannot write to the results folder \(configuration.resultsDirectory)")
        }
    }
}

/// The results of a run and, when it stopped early, why.
public struct RunReport: Sendable {
    public var results: TestResults
    public var abort: RunAbort?
}

/// Why a run stopped before its end.
public enum RunAbort: Sendable, Hashable {
    /// The target stopped answering.
    case connectionLost
    /// The run was cancelled (SIGINT, SIGTERM, or OTS cancelled the task).
    case interrupted

    /// The failure info of every step not run because of it.
    public var failureInfo: String {
        switch self {
        case .connectionLost: "earlier connection failure"
        case .interrupted: "interrupted before it ran"
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
    /// Set when the run must stop: every later step fails without running.
    var abort: RunAbort?
    /// Process groups of the current case's steps, killed after the case.
    var caseGroups: [Int32] = []
    /// Process groups of the current set's pre- and post-steps.
    var setGroups: [Int32] = []
    var outputNames: Set<String> = []
    /// `-d`, when the target has sp-rich-core.
    var richCore: RichCoreDumps?
    /// `--measure-power`, when the host has hat_ctrl.
    var power: PowerMeasurement?

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
        await prepareDeviceTools()
        var results = TestResults(
            version: definition.version,
            environment: configuration.environment,
            description: definition.description
        )
        if configuration.collectHardwareInfo {
            // -i: testrunner-lite asks another host for them.
            let infoTarget = configuration.hardwareInfoTarget ?? target
            results.hwproduct = await query(Runner.productCommand, on: infoTarget) ?? "unknown"
            results.hwbuild = await query(Runner.buildCommand, on: infoTarget) ?? "unknown"
        }
        if let detect = definition.hwiddetect {
            results.hwiddetect = detect
            hardwareID = await query(detect, firstLineOnly: false).map {
                Self.withoutControlCharacters($0).trimmingCharacters(in: .whitespaces)
            }.flatMap { $0.isEmpty ? nil : $0 }
            if let hardwareID {
                logger.debug("detected hardware id '\(hardwareID)'")
            } else {
                onEvent(.warning("the hardware id command failed; sets of every hwid run"))
            }
        }
        var suiteResults: [Int: SuiteResult] = [:]
        for (index, suite) in definition.suites.enumerated() {
            guard hardwareMatches(suite.attributes.hwid) else {
                logger.debug("suite \(suite.name) is for hardware \(suite.attributes.hwid ?? ""), not \(hardwareID ?? "")")
                continue
            }
            if let onlySets = configuration.onlySets, !onlySets.contains(where: { $0.suite == suite.name }) {
                continue
            }
            suiteResults[index] = SuiteResult(attributes: Self.written(suite.attributes), description: suite.descriptionText)
        }
        for position in Runner.runOrder(definition, setOrder: configuration.setOrder) where suiteResults[position.suite] != nil {
            let suite = definition.suites[position.suite]
            if let setResult = try await run(suite.sets[position.set], in: suite) {
                suiteResults[position.suite]!.sets.append(setResult)
            }
        }
        for (index, suite) in definition.suites.enumerated() {
            guard let suiteResult = suiteResults[index] else { continue }
            // A suite whose every set ran elsewhere is not written here.
            if suiteResult.sets.isEmpty && configuration.setGate != nil && !suite.sets.isEmpty { continue }
            results.suites.append(suiteResult)
        }
        return results
    }

    /// `-d` and `--measure-power` need tools (sp-rich-core on the target,
    /// hat_ctrl on the host): without them, one warning and the run goes on.
    private mutating func prepareDeviceTools() async {
        if let folder = configuration.richCoreDumps {
            let tools = RichCoreDumps(
                folder: folder, uploadTimeout: configuration.coreUploadTimeout, configuration: configuration, commands: commands)
            if await tools.available() {
                richCore = tools
            } else {
                onEvent(.warning("-d: rich-core-dumper (sp-rich-core) is not on the target; cases run without rich-core dumps"))
            }
        }
        if configuration.measurePower {
            let tools = PowerMeasurement(
                command: configuration.hatControl, file: commands.scratchDirectory + "/current-measurement", commands: commands)
            if tools.available() {
                power = tools
            } else {
                onEvent(.warning("--measure-power: \(configuration.hatControl) is not on this host; cases run without power measurement"))
            }
        }
    }

    /// For SSH targets: fail early, with exit code 2, when the target
    /// cannot be reached.
    private func checkConnection() async throws {
        guard case .ssh(let ssh) = target else { return }
        let outcome = try await commands.run(target.arguments(for: "true"), timeout: .seconds(30))
        outcome.removeFiles()
        if outcome.termination != .exited(0) {
            let reason = outcome.stderr.text.trimmingCharacters(in: .whitespacesAndNewlines)
            throw RunnerError(.connectionFailure, "cannot reach the target \(ssh)" + (reason.isEmpty ? "" : ": \(reason)"))
        }
    }

    /// Whether the target still answers, after a step ended the way a lost
    /// connection ends (exit code 255 or 65 to 79).
    private func targetAnswers() async -> Bool {
        guard let outcome = try? await commands.run(target.arguments(for: "echo connection check"), timeout: .seconds(30))
        else { return false }
        outcome.removeFiles()
        return outcome.termination == .exited(0)
    }

    /// Runs a short command on the target; its trimmed output (or first
    /// line), or nil when it failed.
    private func query(_ command: String, firstLineOnly: Bool = true, on queried: ExecutionTarget? = nil) async -> String? {
        let queried = queried ?? target
        guard let outcome = try? await commands.run(queried.arguments(for: command), timeout: .seconds(GeneralAttributes.defaultTimeout))
        else { return nil }
        outcome.removeFiles()
        guard outcome.termination == .exited(0) else { return nil }
        let text = outcome.stdout.text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard firstLineOnly else { return text.replacingOccurrences(of: "\n", with: " ") }
        return String(text.split(separator: "\n", omittingEmptySubsequences: false).first ?? "")
    }

    /// A suite or set runs when it names no hwid, when no hwid was detected,
    /// or when one of its comma-separated hwids is the detected one.
    ///
    /// As in testrunner-lite, the items are compared as written, spaces
    /// included: `hwid="bar, foo"` does not name `foo`.
    private func hardwareMatches(_ hwid: String?) -> Bool {
        guard let hwid, let hardwareID else { return true }
        return hwid.split(separator: ",").contains { $0 == hardwareID }
    }

    // MARK: Sets

    private mutating func run(_ set: TestSet, in suite: Suite) async throws -> SetResult? {
        let setAttributes = set.attributes.inheriting(from: suite.attributes)
        guard hardwareMatches(setAttributes.hwid), set.runs(in: configuration.environment),
            configuration.filter.admits(set: set, suite: suite, attributes: setAttributes),
            configuration.onlySets?.contains(SetReference(suite: suite.name, set: set.name)) ?? true
        else {
            return nil
        }
        if let gate = configuration.setGate, try await !gate(SetReference(suite: suite.name, set: set.name)) {
            logger.debug("set \(suite.name)/\(set.name) is run elsewhere")
            return nil
        }
        let cases = set.cases.filter { testCase in
            let attributes = testCase.attributes.inheriting(from: setAttributes)
            guard configuration.filter.admits(case: testCase, attributes: attributes) else { return false }
            // As testrunner-lite: the cases the mode excludes (manual ones
            // with -a, automatic ones with -m) are left out, as filtered
            // cases are.
            let manual = attributes.manual ?? false
            if configuration.mode == .manual && !manual { return false }
            if configuration.mode == .automatic && manual { return false }
            return true
        }

        let started = ContinuousClock.now
        onEvent(.setStarted(suite: suite.name, set: set.name))
        var result = SetResult(
            attributes: Self.written(setAttributes),
            environment: configuration.environment,
            description: set.descriptionText,
            get: set.get
        )
        var context = SetContext(suite: suite.name, set: set.name, postReboot: set.postRebootSteps)

        var preStepsFailed = false
        if let pre = set.preSteps {
            result.preStepsTimeout = pre.timeout ?? StepGroup.defaultTimeout
            (result.preSteps, preStepsFailed) = try await runGroup(pre, context: context, label: "pre_steps")
            if preStepsFailed {
                onEvent(.warning("pre-steps of set \(set.name) failed; its cases do not run"))
            }
        }

        for testCase in cases {
            let attributes = testCase.attributes.inheriting(from: setAttributes)
            context.caseName = testCase.name
            var caseResult: CaseResult
            if let abort {
                caseResult = failedWithoutRunning(testCase, attributes: attributes, info: abort.failureInfo)
            } else if preStepsFailed {
                caseResult = failedWithoutRunning(testCase, attributes: attributes, info: Runner.preStepsFailedComment)
                caseResult.comment = Runner.preStepsFailedComment
            } else {
                caseResult = try await run(testCase, attributes: attributes, context: &context)
            }
            onEvent(.caseFinished(suite: suite.name, set: set.name, result: caseResult))
            result.cases.append(caseResult)
        }
        context.caseName = nil

        // -R, as testrunner-lite: after the set's cases, wait for a lost
        // target to come back; then the set's post-steps and files go on.
        var resumed = false
        if let resume = configuration.resume, abort == .connectionLost, !preStepsFailed {
            onEvent(.warning("the connection to the target was lost; waiting for it to come back (-R \(resume.rawValue))"))
            if await waitForTarget() == nil {
                abort = nil
                resumed = true
                onEvent(.warning("the target answers again; the run resumes"))
            }
        }

        if let post = set.postSteps {
            result.postStepsTimeout = post.timeout ?? StepGroup.defaultTimeout
            if preStepsFailed {
                // As testrunner-lite: a set whose pre-steps failed does not
                // run its post-steps either; they are written N/A.
                result.postSteps = post.steps.map { notRun($0, manual: nil) }
            } else {
                let failed: Bool
                (result.postSteps, failed) = try await runGroup(post, context: context, label: "post_steps")
                if failed {
                    onEvent(.warning("post-steps of set \(set.name) failed"))
                }
            }
        }
        killGroups(&setGroups)

        // Files of the set: fetched after it, unless it did not run.
        if !preStepsFailed && abort == nil {
            _ = await fetch(set.get, context: context)
        }
        if resumed && configuration.resume == .exit {
            // `-R exit`: the run ends after this set; what is left fails.
            abort = .connectionLost
        }

        onEvent(.setFinished(suite: suite.name, set: set.name, result: result, duration: ContinuousClock.now - started))
        return result
    }

    private struct SetContext {
        var suite: String
        var set: String
        var postReboot: StepGroup?
        var caseName: String?
    }

    /// Runs pre- or post-steps. As in testrunner-lite, a step of the group
    /// fails the group only when it gives an `expected_result`; then the
    /// rest of the group does not run.
    private mutating func runGroup(_ group: StepGroup, context: SetContext, label: String) async throws
        -> ([StepResult], failed: Bool)
    {
        let timeout = group.timeout ?? StepGroup.defaultTimeout
        var results: [StepResult] = []
        var failed = false
        for step in group.steps {
            if let abort {
                results.append(notRun(step, result: .fail, info: abort.failureInfo, manual: nil))
                continue
            }
            if failed {
                results.append(notRun(step, manual: nil))
                continue
            }
            if step.manual == true {
                results.append(notRun(step, info: "manual pre/post steps are not supported", manual: nil))
                continue
            }
            var stepResult = try await execute(step, timeout: timeout, context: context, label: label, groups: \.setGroups)
            stepResult.manual = nil
            results.append(stepResult)
            if stepResult.result == .fail && step.explicitExpectedResult != nil {
                failed = true
            }
        }
        return (results, failed)
    }

    // MARK: Cases

    /// What a case's results carry: its own attributes with what it
    /// inherits, timeout, manual and insignificant always.
    static func written(_ attributes: GeneralAttributes) -> GeneralAttributes {
        var written = attributes
        written.timeout = attributes.timeout ?? GeneralAttributes.defaultTimeout
        written.manual = attributes.manual ?? false
        written.insignificant = attributes.insignificant ?? false
        return written
    }

    private func base(_ testCase: TestCase, attributes: GeneralAttributes, result: TestOutcome) -> CaseResult {
        CaseResult(
            attributes: Self.written(attributes),
            result: result,
            subfeature: testCase.subfeature,
            bugzillaID: testCase.bugzillaID,
            tcID: testCase.tcID,
            state: testCase.state,
            description: testCase.descriptionText
        )
    }

    private func failedWithoutRunning(_ testCase: TestCase, attributes: GeneralAttributes, info: String) -> CaseResult {
        var result = base(testCase, attributes: attributes, result: .fail)
        result.failureInfo = info
        result.steps = testCase.steps.map { notRun($0, result: .fail, info: info, manual: $0.manual ?? attributes.manual ?? false) }
        return result
    }

    private mutating func run(_ testCase: TestCase, attributes: GeneralAttributes, context: inout SetContext) async throws
        -> CaseResult
    {
        var result = base(testCase, attributes: attributes, result: .notApplicable)
        let isManual = attributes.manual ?? false
        if testCase.state == "Design" {
            result.comment = "case in state Design is not executed"
            result.steps = testCase.steps.map { notRun($0, manual: $0.manual ?? isManual) }
            return result
        }
        if testCase.steps.isEmpty {
            result.comment = "case has no steps"
            result.events = testCase.items.compactMap { item in
                if case .event(let event) = item { self.notRun(event) } else { nil }
            }
            return result
        }

        let timeout = attributes.timeout ?? GeneralAttributes.defaultTimeout
        var failed = false
        var passedAny = false
        var richCoreID: String?
        if let richCore, abort == nil {
            let uuid = RichCoreDumps.newID()
            richCoreID = uuid
            if let warning = await richCore.begin(uuid: uuid) { onEvent(.warning(warning)) }
        }
        if let power, abort == nil, let warning = await power.start() {
            onEvent(.warning(warning))
        }
        for item in testCase.items {
            switch item {
            case .event(let event):
                // Events need a listener on the target that OTS does not
                // provide (testrunner-lite builds them only on request);
                // they are recorded, not judged.
                result.events.append(notRun(event))
            case .step(let step):
                let manualStep = step.manual ?? isManual
                if let abort {
                    result.steps.append(notRun(step, result: .fail, info: abort.failureInfo, manual: manualStep))
                    failed = true
                    result.failureInfo = result.failureInfo ?? abort.failureInfo
                    continue
                }
                if failed {
                    result.steps.append(notRun(step, manual: manualStep))
                    continue
                }
                var stepResult: StepResult
                if manualStep && configuration.mode == .automatic {
                    stepResult = notRun(step, manual: true)
                } else if manualStep {
                    stepResult = await judgeManually(step, testCase: testCase, context: context)
                } else {
                    stepResult = try await execute(step, timeout: timeout, context: context, label: "step", groups: \.caseGroups)
                }
                stepResult.manual = manualStep
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
        killGroups(&caseGroups)
        result.result = failed ? .fail : (passedAny ? .pass : .notApplicable)
        if !failed && !passedAny {
            result.comment = isManual ? "manual case not judged" : "no step was executed"
        }
        if let power {
            let (series, warning) = await power.stop()
            if let warning { onEvent(.warning(warning)) }
            if let series { result.series.append(series) }
        }
        if let richCore, let uuid = richCoreID, abort == nil {
            let onEvent = self.onEvent
            if let ids = await richCore.collect(uuid: uuid, into: configuration.resultsDirectory, warn: { onEvent(.warning($0)) }) {
                result.richCoreUUID = uuid
                result.crashIDs = ids
            }
        }

        if abort == nil {
            let fetched = await fetch(testCase.get, context: context)
            judge(fetched, into: &result)
        }
        return result
    }

    /// Kills what steps left running (testrunner-lite does this after each
    /// case, and after each set for pre- and post-steps).
    ///
    /// A group outlives its leader (the step's shell, long reaped). Its id
    /// cannot be given to a new group while it has members, and a new group
    /// could only take it after a new process took the leader's pid: so a
    /// group is killed only while no process has that pid, and an unrelated
    /// group that reused the number is left alone.
    private func killGroups(_ groups: inout [Int32]) {
        for group in groups where group > 0 {
            if kill(group, 0) != 0 && errno == ESRCH {
                kill(-group, SIGKILL)
            }
        }
        groups.removeAll()
    }

    // MARK: Steps

    private mutating func execute(
        _ step: Step,
        timeout seconds: Int,
        context: SetContext,
        label: String,
        groups: WritableKeyPath<Execution, [Int32]>
    ) async throws -> StepResult {
        // A timeout of more than a year is taken as a year (and cannot
        // overflow the clock).
        let seconds = min(seconds, 365 * 86_400)
        let remote = RemoteStep(target: target, commands: commands)
        let stopRemote: (@Sendable (Bool) async -> Void)?
        if target.isRemote {
            stopRemote = { hard in await remote.stop(hard: hard) }
        } else {
            stopRemote = nil
        }
        let outcome: CommandOutcome
        do {
            outcome = try await commands.run(
                target.arguments(for: remote.wrap(step.command)),
                timeout: .seconds(seconds),
                onTimeout: stopRemote
            )
        } catch {
            let now = Date()
            let interrupted = Task.isCancelled || error is CancellationError
            if interrupted { abort = .interrupted }
            let result = StepResult(
                command: step.command,
                result: .fail,
                manual: step.manual,
                control: step.control,
                failureInfo: interrupted ? "interrupted while it ran" : "could not start the step: \(error)",
                expectedResult: step.expectedResult,
                returnCode: nil,
                start: now,
                end: now
            )
            onEvent(.stepFinished(suite: context.suite, set: context.set, case: context.caseName, step: result))
            return result
        }
        self[keyPath: groups].append(outcome.processGroup)
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
        let ending = StepJudgement.Ending(termination: outcome.termination, timedOut: outcome.timedOut, cancelled: Task.isCancelled)
        let answered = StepJudgement.asksTarget(ending, step: step, remote: target.isRemote) ? await targetAnswers() : nil
        let judgement = StepJudgement.judge(ending, step: step, timeout: seconds, remote: target.isRemote, targetAnswered: answered)
        result.result = judgement.result
        result.failureInfo = judgement.failureInfo
        result.returnCode = judgement.returnCode
        if let stop = judgement.abort { abort = stop }
        if result.result == .pass, step.control == "reboot" || rebootExpected, let group = context.postReboot {
            if let lost = await waitForTarget() {
                // The target did not come back: everything after fails
                // without running, and the results are still written.
                abort = lost
                result.result = .fail
                result.failureInfo =
                    lost == .interrupted
                    ? "interrupted while waiting for the target" : "the target did not come back within 300 s after the reboot"
                onEvent(.stepFinished(suite: context.suite, set: context.set, case: context.caseName, step: result))
                return result
            }
            let timeout = group.timeout ?? StepGroup.defaultTimeout
            // Post-reboot steps do not start post-reboot steps of their own.
            var inner = context
            inner.postReboot = nil
            for rebootStep in group.steps {
                var rebootResult = try await execute(rebootStep, timeout: timeout, context: inner, label: "post_reboot", groups: groups)
                rebootResult.manual = nil
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

    /// After a reboot: wait until the target answers again (up to five
    /// minutes); nil when it does, else why the run must stop.
    private func waitForTarget() async -> RunAbort? {
        guard target.isRemote else { return nil }
        let deadline = ContinuousClock.now + .seconds(300)
        while ContinuousClock.now < deadline {
            if Task.isCancelled { return .interrupted }
            if await targetAnswers() { return nil }
            do {
                try await Task.sleep(for: .seconds(2))
            } catch {
                return .interrupted
            }
        }
        return .connectionLost
    }

    private func judgeManually(_ step: Step, testCase: TestCase, context: SetContext) async -> StepResult {
        let start = Date()
        var outcome: TestOutcome?
        if let manualJudge, !Task.isCancelled {
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

    private func notRun(_ step: Step, result: TestOutcome = .notApplicable, info: String? = nil, manual: Bool?) -> StepResult {
        let now = Date()
        return StepResult(
            command: step.command,
            result: result,
            manual: manual,
            control: step.control,
            failureInfo: info,
            expectedResult: step.expectedResult,
            returnCode: nil,
            start: now,
            end: now
        )
    }

    private func notRun(_ event: TestEvent) -> EventResult {
        EventResult(kind: event.kind, resource: event.resource, timeout: event.timeout, params: event.params, result: .notApplicable)
    }

    // MARK: Output

    /// Control characters other than tab, newline and carriage return become
    /// spaces, as testrunner-lite writes them.
    static func withoutControlCharacters(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        var result = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            result.append(isControl(scalar) ? " " : scalar)
        }
        return String(result)
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09, 0x0A, 0x0D: false
        case 0x00...0x1F, 0x7F: true
        default: false
        }
    }

    /// The text a step's stream leaves in the results. Output beyond the
    /// inline limit, or not valid UTF-8, is also kept whole and raw in a
    /// file beside the results.
    private mutating func keep(_ output: CapturedOutput, stream: String, context: SetContext, label: String) -> String {
        let text = Self.withoutControlCharacters(output.text)
        guard let overflow = output.overflowFile else { return text }
        let folder = configuration.resultsDirectory + "/output"
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let base = [context.suite, context.set, context.caseName ?? label].map(Self.safeName).joined(separator: "_")
        let name = uniqueOutputName("output/" + base + "_" + label + "." + stream)
        let why =
            output.isTruncated
            ? "output truncated: \(output.totalBytes) bytes in all"
            : CapturedOutput.isValidUTF8(output.head, truncated: false)
                ? "output has a UTF-8 sequence longer than \(output.utf8Limit) bytes" : "output is not valid UTF-8"
        do {
            try FileManager.default.moveItem(atPath: overflow, toPath: configuration.resultsDirectory + "/" + name)
            return text + "\n[\(why); the whole output is in \(name)]"
        } catch {
            try? FileManager.default.removeItem(atPath: overflow)
            return text + "\n[\(why); the rest could not be kept: \(error.localizedDescription)]"
        }
    }

    private mutating func uniqueOutputName(_ wanted: String) -> String {
        var name = wanted
        var counter = 1
        while outputNames.contains(name) || FileManager.default.fileExists(atPath: configuration.resultsDirectory + "/" + name) {
            counter += 1
            name = wanted + "." + String(counter)
        }
        outputNames.insert(name)
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
        /// Why a measurement file could not be used.
        var failure: String?
    }

    /// Fetches files into the results folder (keeping their names, as
    /// testrunner-lite does); reads the measurement files among them.
    private mutating func fetch(_ files: [FetchFile], context: SetContext) async -> Fetched {
        var fetched = Fetched()
        for file in files {
            let name = (file.path as NSString).lastPathComponent
            guard FileFetcher.isSafeName(name) else {
                let message = "could not fetch \(file.path): '\(name)' is not a file name to keep in the results folder"
                onEvent(.warning(message))
                if file.measurement || file.series {
                    fetched.failure = fetched.failure ?? "Failed to process measurement file: \(message)"
                }
                continue
            }
            let destination = configuration.resultsDirectory + "/" + name
            if let problem = await FileFetcher(configuration: configuration, commands: commands).copy(file.path, to: destination) {
                let message = "could not fetch \(file.path): \(problem)"
                onEvent(.warning(message))
                if file.measurement || file.series {
                    fetched.failure = fetched.failure ?? "Failed to process measurement file: \(message)"
                }
                continue
            }
            if file.deleteAfter {
                await FileFetcher(configuration: configuration, commands: commands).delete(file.path)
            }
            guard file.measurement || file.series else { continue }
            do {
                let text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: destination)), as: UTF8.self)
                if file.series {
                    fetched.series.append(try MeasurementFile.series(in: text, file: file.path))
                } else {
                    fetched.measurements += try MeasurementFile.measurements(in: text, file: file.path)
                }
            } catch {
                onEvent(.warning("measurement file \(error)"))
                fetched.failure = fetched.failure ?? "Failed to process measurement file: \(error)"
            }
        }
        return fetched
    }

    /// Adds what a case's files measured, and fails a passed case whose
    /// measurement broke its failure limit (unless `-M`).
    private func judge(_ fetched: Fetched, into result: inout CaseResult) {
        result.measurements += fetched.measurements
        result.series += fetched.series
        guard result.result == .pass else { return }
        if let failure = fetched.failure {
            result.result = .fail
            result.failureInfo = failure
            return
        }
        guard configuration.measurementVerdict else { return }
        let verdicts = fetched.measurements.compactMap(\.verdict) + fetched.series.compactMap(\.verdict)
        if let first = verdicts.first {
            result.result = .fail
            result.failureInfo = first
        }
    }
}

extension Runner {
    /// The sets of `definition` (suite and set indices) in the order they
    /// run: those `setOrder` names first, in its order (a name in several
    /// suites in definition order), then the rest in definition order.
    public static func runOrder(_ definition: TestDefinition, setOrder: [String]?) -> [(suite: Int, set: Int)] {
        var positions: [(suite: Int, set: Int)] = []
        for (suite, element) in definition.suites.enumerated() {
            for set in element.sets.indices { positions.append((suite, set)) }
        }
        guard let setOrder, !setOrder.isEmpty else { return positions }
        var rank: [String: Int] = [:]
        for (index, name) in setOrder.enumerated() where rank[name] == nil { rank[name] = index }
        // A stable sort: unnamed sets keep definition order, after the named ones.
        return positions.enumerated().sorted { lhs, rhs in
            let left = rank[definition.suites[lhs.element.suite].sets[lhs.element.set].name] ?? Int.max
            let right = rank[definition.suites[rhs.element.suite].sets[rhs.element.set].name] ?? Int.max
            return left != right ? left < right : lhs.offset < rhs.offset
        }.map(\.element)
    }
}
