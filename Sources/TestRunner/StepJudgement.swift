import TestDefinition

/// How a step that ran is judged, as testrunner-lite judges it: from how
/// its command ended, what the step expects, and (for a remote step whose
/// return code is one ssh uses for its own failures) whether the target
/// still answers. Pure, so its table is tested without processes.
struct StepJudgement: Sendable, Hashable {
    var result: TestOutcome
    var failureInfo: String?
    /// The return code written: the exit code, or the signal's number.
    var returnCode: Int
    /// Why the rest of the run cannot go on, if it cannot.
    var abort: RunAbort?

    /// How the step's command ended.
    struct Ending: Sendable, Hashable {
        var termination: Termination
        /// It ran past its timeout and was killed.
        var timedOut: Bool
        /// The run was cancelled while it ran.
        var cancelled: Bool

        init(termination: Termination, timedOut: Bool = false, cancelled: Bool = false) {
            self.termination = termination
            self.timedOut = timedOut
            self.cancelled = cancelled
        }
    }

    /// Whether judging the step needs to know if the target still answers:
    /// a remote step that failed with 255 (ssh's own failure) or 65 to 79
    /// (the sysexits ssh and scp use) may have lost the connection.
    static func asksTarget(_ ending: Ending, step: Step, remote: Bool) -> Bool {
        guard remote, !ending.cancelled, !ending.timedOut, case .exited = ending.termination else { return false }
        let code = ending.termination.returnCode
        return code != step.expectedResult && (code == 255 || (65...79).contains(code))
    }

    /// The judgement. `targetAnswered` is asked only when `asksTarget`
    /// says so (nil: not asked, taken as answering).
    static func judge(_ ending: Ending, step: Step, timeout seconds: Int, remote: Bool, targetAnswered: Bool?) -> StepJudgement {
        var judgement = StepJudgement(result: .pass, failureInfo: nil, returnCode: ending.termination.returnCode, abort: nil)
        if case .signalled(let signal) = ending.termination {
            // As testrunner-lite: the return code is the signal's number.
            judgement.returnCode = Int(signal)
        }
        if ending.cancelled {
            judgement.abort = .interrupted
            judgement.result = .fail
            judgement.failureInfo = "interrupted while it ran"
        } else if ending.timedOut {
            judgement.result = .fail
            judgement.failureInfo = "timeout after \(seconds) s" + signalInfo(ending.termination)
        } else if case .signalled = ending.termination {
            judgement.result = .fail
            judgement.failureInfo = "terminated by signal \(judgement.returnCode)"
        } else if ending.termination.returnCode != step.expectedResult {
            judgement.result = .fail
            judgement.failureInfo = "return code \(ending.termination.returnCode), expected \(step.expectedResult)"
            if asksTarget(ending, step: step, remote: remote), targetAnswered == false {
                if step.control == "reboot_expected" {
                    judgement.result = .pass
                    judgement.failureInfo = nil
                } else {
                    judgement.failureInfo = "connection failure"
                    judgement.abort = .connectionLost
                }
            }
        }
        return judgement
    }

    /// `, terminated by signal N` for a signalled command, else nothing.
    static func signalInfo(_ termination: Termination) -> String {
        if case .signalled(let signal) = termination {
            return ", terminated by signal \(signal)"
        }
        return ""
    }
}
