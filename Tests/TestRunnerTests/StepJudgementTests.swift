import TestDefinition
import Testing

@testable import TestRunner

/// How a step that ran is judged, as testrunner-lite judges it: the table,
/// without processes.
@Suite struct StepJudgementTests {
    typealias Ending = StepJudgement.Ending

    static func step(expected: Int? = nil, control: String? = nil) -> Step {
        Step(command: "x", expectedResult: expected, control: control, location: SourceLocation(file: "tests.xml", line: 1, column: 1))
    }

    struct Row: Sendable, CustomTestStringConvertible {
        var ending: Ending
        var expected: Int? = nil
        var control: String? = nil
        var remote = false
        var answered: Bool? = nil
        var result: TestOutcome
        var info: String?
        var returnCode: Int
        var abort: RunAbort? = nil
        var asks = false
        var testDescription: String {
            "\(ending) expected \(expected ?? 0) \(control ?? "") remote \(remote) answered \(answered.map(String.init) ?? "-")"
        }
    }

    static let rows: [Row] = [
        // Local steps: the return code decides.
        Row(ending: Ending(termination: .exited(0)), result: .pass, info: nil, returnCode: 0),
        Row(ending: Ending(termination: .exited(1)), result: .fail, info: "return code 1, expected 0", returnCode: 1),
        Row(ending: Ending(termination: .exited(3)), expected: 3, result: .pass, info: nil, returnCode: 3),
        Row(ending: Ending(termination: .exited(0)), expected: 3, result: .fail, info: "return code 0, expected 3", returnCode: 0),
        Row(ending: Ending(termination: .exited(255)), result: .fail, info: "return code 255, expected 0", returnCode: 255),
        // A signal: the return code is its number; it fails whatever is expected.
        Row(ending: Ending(termination: .signalled(15)), result: .fail, info: "terminated by signal 15", returnCode: 15),
        Row(ending: Ending(termination: .signalled(9)), expected: 137, result: .fail, info: "terminated by signal 9", returnCode: 9),
        // The timeout: killed, so the signal is named.
        Row(
            ending: Ending(termination: .signalled(9), timedOut: true), result: .fail, info: "timeout after 5 s, terminated by signal 9",
            returnCode: 9),
        Row(ending: Ending(termination: .exited(0), timedOut: true), result: .fail, info: "timeout after 5 s", returnCode: 0),
        // Cancelled: the run stops, whatever the step did.
        Row(
            ending: Ending(termination: .exited(0), cancelled: true), result: .fail, info: "interrupted while it ran", returnCode: 0,
            abort: .interrupted),
        Row(
            ending: Ending(termination: .signalled(2), timedOut: true, cancelled: true), remote: true, result: .fail,
            info: "interrupted while it ran", returnCode: 2, abort: .interrupted),
        // Remote: ssh's own failures ask whether the target still answers.
        Row(
            ending: Ending(termination: .exited(255)), remote: true, answered: false, result: .fail, info: "connection failure",
            returnCode: 255, abort: .connectionLost, asks: true),
        Row(
            ending: Ending(termination: .exited(65)), remote: true, answered: false, result: .fail, info: "connection failure",
            returnCode: 65, abort: .connectionLost, asks: true),
        Row(
            ending: Ending(termination: .exited(79)), remote: true, answered: false, result: .fail, info: "connection failure",
            returnCode: 79, abort: .connectionLost, asks: true),
        Row(
            ending: Ending(termination: .exited(255)), remote: true, answered: true, result: .fail, info: "return code 255, expected 0",
            returnCode: 255, asks: true),
        Row(
            ending: Ending(termination: .exited(255)), control: "reboot_expected", remote: true, answered: false, result: .pass, info: nil,
            returnCode: 255, asks: true),
        Row(
            ending: Ending(termination: .exited(255)), control: "reboot", remote: true, answered: false, result: .fail,
            info: "connection failure", returnCode: 255, abort: .connectionLost, asks: true),
        Row(ending: Ending(termination: .exited(64)), remote: true, result: .fail, info: "return code 64, expected 0", returnCode: 64),
        Row(ending: Ending(termination: .exited(80)), remote: true, result: .fail, info: "return code 80, expected 0", returnCode: 80),
        Row(ending: Ending(termination: .exited(255)), expected: 255, remote: true, result: .pass, info: nil, returnCode: 255),
        Row(ending: Ending(termination: .exited(1)), remote: true, result: .fail, info: "return code 1, expected 0", returnCode: 1),
    ]

    @Test(arguments: rows)
    func judgesAsTestrunnerLite(row: Row) {
        let step = Self.step(expected: row.expected, control: row.control)
        #expect(StepJudgement.asksTarget(row.ending, step: step, remote: row.remote) == row.asks)
        let judgement = StepJudgement.judge(row.ending, step: step, timeout: 5, remote: row.remote, targetAnswered: row.answered)
        #expect(judgement.result == row.result)
        #expect(judgement.failureInfo == row.info)
        #expect(judgement.returnCode == row.returnCode)
        #expect(judgement.abort == row.abort)
    }

    @Test func aTargetNotAskedIsTakenAsAnswering() {
        let judgement = StepJudgement.judge(
            Ending(termination: .exited(255)), step: Self.step(), timeout: 5, remote: true, targetAnswered: nil)
        #expect(judgement.abort == nil)
        #expect(judgement.failureInfo == "return code 255, expected 0")
    }
}
