import Foundation
import OTSTestSupport
import TestDefinition
import Testing

@testable import TestRunner

@Suite struct RunnerStepTests {
    @Test func aStepPassesWhenItsExitCodeIsTheExpectedOne() async throws {
        let results = try await RunnerHarness().run(
            """
            <case name="zero"><step>true</step></case>
            <case name="three"><step expected_result="3">exit 3</step></case>
            <case name="wrong"><step expected_result="3">exit 0</step></case>
            """
        )
        #expect(results.case("zero")?.result == .pass)
        #expect(results.case("three")?.result == .pass)
        #expect(results.case("three")?.steps[0].returnCode == 3)
        let wrong = try #require(results.case("wrong"))
        #expect(wrong.result == .fail)
        #expect(wrong.steps[0].failureInfo == "return code 0, expected 3")
        #expect(wrong.failureInfo == "return code 0, expected 3")
    }

    @Test func theFirstFailingStepFailsTheCaseAndTheRestAreNotRun() async throws {
        let harness = try RunnerHarness()
        let results = try await harness.run(
            """
            <case name="c">
              <step>echo one</step>
              <step>false</step>
              <step>touch "$WORK/ran"</step>
              <step>true</step>
            </case>
            """
        )
        let testCase = try #require(results.case("c"))
        #expect(testCase.result == .fail)
        #expect(testCase.steps.map(\.result) == [.pass, .fail, .notApplicable, .notApplicable])
        #expect(testCase.steps[2].returnCode == nil)
        #expect(!FileManager.default.fileExists(atPath: harness.folder.file("ran")))
        #expect(testCase.steps[0].stdout == "one\n")
    }

    @Test func stepsSeeTheEnvironmentAndOutputIsKept() async throws {
        let results = try await RunnerHarness().run(
            #"<case name="c"><step>echo "to out"; echo "to err" &gt;&amp;2; test -n "$WORK"</step></case>"#
        )
        let step = try #require(results.case("c")?.steps.first)
        #expect(step.result == .pass)
        #expect(step.stdout == "to out\n")
        #expect(step.stderr == "to err\n")
        #expect(step.end >= step.start)
    }

    @Test func invalidUTF8AndControlCharactersStillMakeValidResults() async throws {
        let harness = try RunnerHarness()
        let results = try await harness.run(
            #"<case name="c"><step>printf 'bad \377 byte \033[31mred\033[0m\tend'</step></case>"#
        )
        let stdout = try #require(results.case("c")?.steps.first?.stdout)
        // Control characters become spaces, as testrunner-lite writes them;
        // invalid UTF-8 becomes U+FFFD and the raw bytes are kept.
        #expect(stdout.hasPrefix("bad \u{FFFD} byte  [31mred [0m\tend"))
        #expect(stdout.hasSuffix("[output is not valid UTF-8; the whole output is in output/s_t_c_step.stdout]"))
        let raw = try Data(contentsOf: URL(fileURLWithPath: harness.folder.file("results/output/s_t_c_step.stdout")))
        #expect(raw.contains(0xFF))
        #expect(raw.contains(0x1B))
    }

    @Test func veryLongOutputIsKeptInAFileBesideTheResults() async throws {
        var harness = try RunnerHarness()
        harness.configuration.inlineOutputLimit = 100
        let results = try await harness.run(#"<case name="long"><step>seq 1 10000</step></case>"#)
        let stdout = try #require(results.case("long")?.steps.first?.stdout)
        #expect(stdout.hasPrefix("1\n2\n3\n"))
        #expect(stdout.contains("[output truncated: 48894 bytes in all; the whole output is in output/s_t_long_step.stdout]"))
        let kept = try String(contentsOfFile: harness.folder.file("results/output/s_t_long_step.stdout"), encoding: .utf8)
        #expect(kept.hasSuffix("9999\n10000\n"))
    }
}

@Suite struct RunnerTimeoutTests {
    @Test func aStepPastTheCaseTimeoutIsKilledWithItsChildrenAndFails() async throws {
        let harness = try RunnerHarness()
        let results = try await harness.run(
            """
            <case name="slow" timeout="1">
              <step>sleep 60 &amp; echo $! > "$WORK/child"; wait</step>
              <step>true</step>
            </case>
            <case name="next"><step>true</step></case>
            """
        )
        let slow = try #require(results.case("slow"))
        #expect(slow.result == .fail)
        #expect(slow.steps[0].result == .fail)
        #expect(slow.steps[0].failureInfo == "timeout after 1 s, terminated by signal 15")
        #expect(slow.steps[0].returnCode == 15)
        #expect(slow.steps[1].result == .notApplicable)
        #expect(results.case("next")?.result == .pass)
        let child = try #require(
            Int32(try String(contentsOfFile: harness.folder.file("child"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines))
        )
        try await expectGone(child)
    }

    @Test func theTimeoutIsInheritedFromSetAndSuite() async throws {
        let results = try await RunnerHarness().run(
            """
            <testdefinition version="1.0">
              <suite name="s" timeout="1">
                <set name="from-suite"><case name="a"><step>sleep 30</step></case></set>
                <set name="from-set" timeout="2"><case name="b"><step>sleep 30</step></case></set>
                <set name="own"><case name="c" timeout="100"><step>sleep 1.5</step></case></set>
              </suite>
            </testdefinition>
            """
        )
        #expect(results.case("a")?.result == .fail)
        #expect(results.case("a")?.attributes.timeout == 1)
        #expect(results.case("a")?.steps.first?.failureInfo?.hasPrefix("timeout after 1 s") == true)
        #expect(results.case("b")?.attributes.timeout == 2)
        #expect(results.case("b")?.steps.first?.failureInfo?.hasPrefix("timeout after 2 s") == true)
        #expect(results.case("c")?.result == .pass)
    }

    @Test func theDefaultTimeoutIsNinetySeconds() throws {
        let definition = try RunnerHarness().definition(#"<case name="c"><step>true</step></case>"#)
        let testCase = definition.suites[0].sets[0].cases[0]
        let attributes = testCase.attributes.inheriting(from: definition.suites[0].sets[0].attributes)
        #expect(attributes.timeout == nil)
        #expect(GeneralAttributes.defaultTimeout == 90)
    }

    @Test func preAndPostStepsHaveTheirOwnTimeouts() async throws {
        // Without expected_result the timed-out pre-step does not fail the
        // set, so the case and the post-steps still run.
        let results = try await RunnerHarness().run(
            """
            <pre_steps timeout="1"><step>sleep 30</step></pre_steps>
            <case name="c" timeout="100"><step>true</step></case>
            <post_steps timeout="1"><step>sleep 30</step></post_steps>
            """
        )
        let set = try #require(results.suites.first?.sets.first)
        #expect(set.preStepsTimeout == 1)
        #expect(set.postStepsTimeout == 1)
        #expect(set.preSteps.first?.failureInfo == "timeout after 1 s, terminated by signal 15")
        #expect(set.postSteps.first?.failureInfo == "timeout after 1 s, terminated by signal 15")
        #expect(results.case("c")?.result == .pass)
    }

    @Test func aTimedOutPreStepWithExpectedResultFailsTheSet() async throws {
        let results = try await RunnerHarness().run(
            """
            <pre_steps timeout="1"><step expected_result="0">sleep 30</step></pre_steps>
            <case name="c" timeout="100"><step>true</step></case>
            """
        )
        #expect(results.suites.first?.sets.first?.preSteps.first?.failureInfo == "timeout after 1 s, terminated by signal 15")
        #expect(results.case("c")?.result == .fail)
        #expect(results.case("c")?.comment == "pre_steps failed")
    }
}

@Suite struct RunnerSetTests {
    @Test func stepGroupsDefaultToOneHundredEightySeconds() async throws {
        let results = try await RunnerHarness().run(
            #"<pre_steps><step>true</step></pre_steps><case name="c"><step>true</step></case>"#
        )
        #expect(results.suites.first?.sets.first?.preStepsTimeout == 180)
        #expect(StepGroup.defaultTimeout == 180)
    }

    @Test func aPreStepWithoutExpectedResultDoesNotStopTheSet() async throws {
        let harness = try RunnerHarness()
        let results = try await harness.run(
            """
            <pre_steps><step>exit 1</step><step>touch "$WORK/second-pre"</step></pre_steps>
            <case name="a"><step>true</step></case>
            """
        )
        let set = try #require(results.suites.first?.sets.first)
        // Written as it ended (FAIL), but it does not fail the set.
        #expect(set.preSteps.map(\.result) == [.fail, .pass])
        #expect(FileManager.default.fileExists(atPath: harness.folder.file("second-pre")))
        #expect(results.case("a")?.result == .pass)
    }

    @Test func aFailingPreStepWithExpectedResultFailsEveryCaseAndSkipsThePostSteps() async throws {
        let harness = try RunnerHarness()
        let results = try await harness.run(
            """
            <pre_steps><step>true</step><step expected_result="0">exit 1</step><step>touch "$WORK/third-pre"</step></pre_steps>
            <case name="a"><step>touch "$WORK/a-ran"</step></case>
            <case name="b"><step>true</step></case>
            <post_steps><step>touch "$WORK/post-ran"</step></post_steps>
            """
        )
        let set = try #require(results.suites.first?.sets.first)
        #expect(set.preSteps.map(\.result) == [.pass, .fail, .notApplicable])
        for name in ["a", "b"] {
            let testCase = try #require(results.case(name))
            #expect(testCase.result == .fail)
            #expect(testCase.comment == "pre_steps failed")
            #expect(testCase.failureInfo == "pre_steps failed")
            #expect(testCase.steps.allSatisfy { $0.result == .fail && $0.failureInfo == "pre_steps failed" })
        }
        #expect(!FileManager.default.fileExists(atPath: harness.folder.file("a-ran")))
        #expect(!FileManager.default.fileExists(atPath: harness.folder.file("third-pre")))
        // As testrunner-lite: the post-steps do not run and are written N/A.
        #expect(!FileManager.default.fileExists(atPath: harness.folder.file("post-ran")))
        #expect(set.postSteps.map(\.result) == [.notApplicable])
        #expect(set.postSteps.map(\.command) == [#"touch "$WORK/post-ran""#])
        let xml = ResultsWriter.xml(results)
        #expect(xml.contains(#"<post_steps timeout="180">"#))
        #expect(xml.contains(#"<step command="touch &quot;$WORK/post-ran&quot;" result="N/A">"#))
    }

    @Test func preStepsRunBeforeCasesAndPostStepsAfter() async throws {
        let harness = try RunnerHarness()
        _ = try await harness.run(
            """
            <post_steps><step>echo post >> "$WORK/order"</step></post_steps>
            <case name="a"><step>echo a >> "$WORK/order"</step></case>
            <pre_steps><step>echo pre >> "$WORK/order"</step></pre_steps>
            <case name="b"><step>echo b >> "$WORK/order"</step></case>
            """
        )
        #expect(try String(contentsOfFile: harness.folder.file("order"), encoding: .utf8) == "pre\na\nb\npost\n")
    }

    @Test func processesLeftBehindByStepsAreKilledAfterTheirCase() async throws {
        let harness = try RunnerHarness()
        let results = try await harness.run(
            """
            <case name="starts"><step>sleep 60 &gt; /dev/null 2&gt;&amp;1 &amp; echo $! &gt; "$WORK/bg"</step>
              <step>kill -0 $(cat "$WORK/bg")</step></case>
            <case name="after"><step>true</step></case>
            """
        )
        // The background process lived through its own case...
        #expect(results.case("starts")?.result == .pass)
        // ...and was killed after it.
        let pid = try #require(
            Int32(try String(contentsOfFile: harness.folder.file("bg"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        try await expectGone(pid)
    }

    @Test func aStepKilledByASignalReturnsTheSignalNumber() async throws {
        let results = try await RunnerHarness().run(#"<case name="c"><step>kill -9 $$</step></case>"#)
        let step = try #require(results.case("c")?.steps.first)
        #expect(step.returnCode == 9)
        #expect(step.failureInfo == "terminated by signal 9")
    }

    @Test func postRebootStepsRunAfterARebootStepAndAreWrittenInsideIt() async throws {
        let harness = try RunnerHarness()
        let results = try await harness.run(
            """
            <post_reboot_steps timeout="20"><step>echo back</step></post_reboot_steps>
            <case name="reboots"><step control="reboot">echo rebooting</step><step>true</step></case>
            <case name="plain"><step>true</step></case>
            """
        )
        let step = try #require(results.case("reboots")?.steps.first)
        #expect(step.control == "reboot")
        #expect(step.postRebootSteps.map(\.stdout) == ["back\n"])
        #expect(results.case("plain")?.steps.first?.postRebootSteps.isEmpty == true)
        #expect(ResultsWriter.xml(results).contains("<post_reboot_steps>"))
    }

    @Test func casesWithoutStepsOrInDesignAreNotApplicable() async throws {
        let harness = try RunnerHarness()
        let results = try await harness.run(
            """
            <case name="empty"><description>nothing yet</description></case>
            <case name="design" state="Design"><step>touch "$WORK/design-ran"</step></case>
            """
        )
        #expect(results.case("empty")?.result == .notApplicable)
        #expect(results.case("design")?.result == .notApplicable)
        #expect(results.case("design")?.steps.map(\.result) == [.notApplicable])
        #expect(!FileManager.default.fileExists(atPath: harness.folder.file("design-ran")))
    }

    @Test func manualCasesNeverWaitInAutomaticMode() async throws {
        let asked = EventLog()
        let results = try await RunnerHarness().run(
            """
            <case name="manual" manual="true"><step>Press the power key</step></case>
            <case name="mixed"><step>true</step><step manual="true">Look at the screen</step></case>
            """,
            judge: { prompt in
                asked.append(.warning(prompt.instruction))
                return .pass
            }
        )
        #expect(asked.events.isEmpty)
        // As testrunner-lite: -a leaves manual cases out, as filtered ones.
        #expect(results.case("manual") == nil)
        #expect(results.allCases.map(\.name) == ["mixed"])
        #expect(results.case("mixed")?.result == .pass)
        #expect(results.case("mixed")?.steps.map(\.result) == [.pass, .notApplicable])
    }

    @Test func manualModeAsksTheJudgeAndSkipsAutomaticCases() async throws {
        var harness = try RunnerHarness()
        harness.configuration.mode = .manual
        let results = try await harness.run(
            """
            <case name="auto"><step>true</step></case>
            <case name="good" manual="true"><step>Press the power key</step></case>
            <case name="bad" manual="true"><step>Break it</step></case>
            """,
            judge: { prompt in prompt.instruction == "Break it" ? .fail : .pass }
        )
        #expect(results.case("auto") == nil)
        #expect(results.case("good")?.result == .pass)
        #expect(results.case("bad")?.result == .fail)
    }

    @Test func insignificantIsCarriedToTheResults() async throws {
        let results = try await RunnerHarness().run(
            """
            <testdefinition version="1.0"><suite name="s"><set name="t" insignificant="true">
              <case name="inherits"><step>false</step></case>
              <case name="overrides" insignificant="false"><step>false</step></case>
            </set></suite></testdefinition>
            """
        )
        #expect(results.case("inherits")?.isInsignificant == true)
        #expect(results.case("overrides")?.isInsignificant == false)
        let xml = ResultsWriter.xml(results)
        #expect(xml.contains(#"<case name="inherits" timeout="90" manual="false" insignificant="true" result="FAIL""#))
        #expect(xml.contains(#"<case name="overrides" timeout="90" manual="false" insignificant="false" result="FAIL""#))
    }

    @Test func setsForAnotherEnvironmentAreSkipped() async throws {
        var harness = try RunnerHarness()
        harness.configuration.environment = "hardware"
        let results = try await harness.run(
            """
            <testdefinition version="1.0"><suite name="s">
              <set name="sb"><environments><scratchbox>true</scratchbox><hardware>false</hardware></environments>
                <case name="sb-case"><step>true</step></case></set>
              <set name="hw"><environments><hardware>true</hardware></environments>
                <case name="hw-case"><step>true</step></case></set>
              <set name="any"><case name="any-case"><step>true</step></case></set>
            </suite></testdefinition>
            """
        )
        #expect(results.allCases.map(\.name) == ["hw-case", "any-case"])
        #expect(results.suites[0].sets.allSatisfy { $0.environment == "hardware" })

        harness.configuration.environment = "scratchbox"
        #expect(try await harness.run(Self.environmentsXML).allCases.map(\.name) == ["sb-case", "any-case"])
        // Sets run in hardware and scratchbox only, as in testrunner-lite.
        harness.configuration.environment = "emulator"
        #expect(try await harness.run(Self.environmentsXML).allCases.isEmpty)
    }

    static let environmentsXML = """
        <testdefinition version="1.0"><suite name="s">
          <set name="sb"><environments><scratchbox>true</scratchbox><hardware>false</hardware></environments>
            <case name="sb-case"><step>true</step></case></set>
          <set name="hw"><environments><scratchbox>false</scratchbox></environments>
            <case name="hw-case"><step>true</step></case></set>
          <set name="any"><case name="any-case"><step>true</step></case></set>
        </suite></testdefinition>
        """
}

@Suite struct RunnerHardwareIDTests {
    @Test func suitesAndSetsForOtherHardwareAreSkippedAndNotWritten() async throws {
        let results = try await RunnerHarness().run(
            """
            <testdefinition version="1.0">
              <hwiddetect>echo "  board-a  "</hwiddetect>
              <suite name="mine" hwid="board-a">
                <set name="also-mine" hwid="board-b,board-a"><case name="a"><step>true</step></case></set>
                <set name="not-mine" hwid="board-b"><case name="b"><step>true</step></case></set>
                <set name="any"><case name="c"><step>true</step></case></set>
              </suite>
              <suite name="other" hwid="board-c"><set name="x"><case name="d"><step>true</step></case></set></suite>
            </testdefinition>
            """
        )
        // The command is written back, as testrunner-lite does.
        #expect(results.hwiddetect == #"echo "  board-a  ""#)
        #expect(results.suites.map(\.attributes.name) == ["mine"])
        #expect(results.suites[0].sets.map(\.attributes.name) == ["also-mine", "any"])
        #expect(!ResultsWriter.xml(results).contains("not-mine"))
    }
}

func expectGone(_ pid: Int32, sourceLocation: Testing.SourceLocation = #_sourceLocation) async throws {
    try await eventually("process \(pid) to be gone", within: .seconds(2), every: .milliseconds(20), sourceLocation: sourceLocation) {
        if kill(pid, 0) != 0 { return true }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else {
            return false
        }
        return stat[stat.index(close, offsetBy: 2)] == "Z"
    }
}

@Suite(.timeLimit(.minutes(5))) struct RunnerAbortTests {
    /// An executor whose target goes away once a step creates "$WORK/down".
    func flakyExecutor(_ harness: RunnerHarness) throws -> String {
        try harness.folder.write(
            "executor.sh",
            "#!/bin/sh\nif [ -e \"$WORK/down\" ]; then echo 'connection refused' >&2; exit 255; fi\nexec /bin/sh -c \"$1\"\n"
        )
        chmod(harness.folder.file("executor.sh"), 0o755)
        return harness.folder.file("executor.sh")
    }

    @Test func aLostTargetFailsEverythingAfterItWithoutRunningIt() async throws {
        var harness = try RunnerHarness()
        harness.configuration.target = .external([try flakyExecutor(harness)])
        let report = try await harness.report(
            """
            <case name="before"><step>true</step></case>
            <case name="loses"><step>touch "$WORK/down"; exit 255</step><step>true</step></case>
            <case name="after"><step>true</step></case>
            <post_steps><step>true</step></post_steps>
            """
        )
        #expect(report.abort == .connectionLost)
        let results = report.results
        #expect(results.case("before")?.result == .pass)
        let loses = try #require(results.case("loses"))
        #expect(loses.steps.map(\.failureInfo) == ["connection failure", "earlier connection failure"])
        #expect(loses.steps.map(\.result) == [.fail, .fail])
        #expect(results.case("after")?.result == .fail)
        #expect(results.case("after")?.failureInfo == "earlier connection failure")
        #expect(results.suites[0].sets[0].postSteps.map(\.failureInfo) == ["earlier connection failure"])
    }

    @Test func aCancelledRunStopsTheStepAndWritesTheRestFailed() async throws {
        let harness = try RunnerHarness()
        let definition = try harness.definition(
            """
            <case name="running"><step>touch "$WORK/started"; sleep 60</step></case>
            <case name="waiting"><step>touch "$WORK/never"</step></case>
            """
        )
        let runner = Runner(configuration: harness.configuration)
        let task = Task { try await runner.run(definition) }
        try await eventually("the step to start", every: .milliseconds(20)) {
            FileManager.default.fileExists(atPath: harness.folder.file("started"))
        }
        task.cancel()
        let report = try await task.value
        #expect(report.abort == .interrupted)
        #expect(report.results.case("running")?.failureInfo == "interrupted while it ran")
        #expect(report.results.case("waiting")?.failureInfo == "interrupted before it ran")
        #expect(!FileManager.default.fileExists(atPath: harness.folder.file("never")))
    }
}
