import Foundation
import OTSTestSupport
import TestDefinition
import Testing

@testable import TestRunner

/// The rules where testrunner-lite leaves a case or step out of the
/// results, writes it N/A, or splits a list: one test each, every results
/// document checked against the schema by the harness.
@Suite struct DropInRuleTests {
    @Test func aFailingPreStepWithoutExpectedResultChangesNothing() async throws {
        let harness = try RunnerHarness()
        let results = try await harness.run(
            """
            <pre_steps><step>exit 3</step></pre_steps>
            <case name="a"><step>touch "$WORK/a-ran"</step></case>
            <post_steps><step>touch "$WORK/post-ran"</step></post_steps>
            """
        )
        let set = try #require(results.suites.first?.sets.first)
        #expect(set.preSteps.map(\.result) == [.fail])
        #expect(results.case("a")?.result == .pass)
        #expect(set.postSteps.map(\.result) == [.pass])
        #expect(FileManager.default.fileExists(atPath: harness.folder.file("a-ran")))
        #expect(FileManager.default.fileExists(atPath: harness.folder.file("post-ran")))
    }

    @Test func aFailedPreStepWritesEveryPostStepNotApplicable() async throws {
        let harness = try RunnerHarness()
        let results = try await harness.run(
            """
            <pre_steps><step expected_result="0">false</step></pre_steps>
            <case name="a"><step>true</step></case>
            <post_steps timeout="5"><step>touch "$WORK/one"</step><step expected_result="0">touch "$WORK/two"</step></post_steps>
            """
        )
        let set = try #require(results.suites.first?.sets.first)
        #expect(set.postSteps.map(\.result) == [.notApplicable, .notApplicable])
        #expect(set.postSteps.allSatisfy { $0.returnCode == nil && $0.failureInfo == nil })
        #expect(set.postStepsTimeout == 5)
        #expect(results.case("a")?.result == .fail)
        #expect(!FileManager.default.fileExists(atPath: harness.folder.file("one")))
        #expect(!FileManager.default.fileExists(atPath: harness.folder.file("two")))
    }

    /// testrunner-lite splits `hwid` on commas and compares each item as
    /// written: a space before an id is part of it.
    @Test(arguments: [
        ("foo", true), ("bar,foo", true), ("foo,bar", true), ("bar, foo", false), (" foo", false), ("foo ", false),
        ("bar,,foo", true), ("Foo", false),
    ])
    func hwidItemsAreComparedAsWritten(hwid: String, runs: Bool) async throws {
        let results = try await RunnerHarness().run(
            """
            <testdefinition version="1.0"><hwiddetect>echo foo</hwiddetect><suite name="s">
              <set name="listed" hwid="\(hwid)"><case name="listed-case"><step>true</step></case></set>
              <set name="unlisted"><case name="other"><step>true</step></case></set>
            </suite></testdefinition>
            """
        )
        #expect(results.suites.first?.sets.map(\.attributes.name) == (runs ? ["listed", "unlisted"] : ["unlisted"]))
        #expect(ResultsWriter.xml(results).contains("listed-case") == runs)
    }

    @Test func theDetectedHardwareIDIsTrimmed() async throws {
        let results = try await RunnerHarness().run(
            """
            <testdefinition version="1.0"><hwiddetect>printf '  foo \\n'</hwiddetect><suite name="s">
              <set name="t" hwid="foo"><case name="c"><step>true</step></case></set>
            </suite></testdefinition>
            """
        )
        #expect(results.allCases.map(\.name) == ["c"])
    }

    static let mixedModes = """
        <case name="auto"><step>true</step></case>
        <case name="by-hand" manual="true"><step>Look at the screen</step></case>
        <case name="auto-too"><step>false</step></case>
        """

    @Test func automaticModeLeavesManualCasesOutOfEveryReport() async throws {
        let results = try await RunnerHarness().run(Self.mixedModes)
        #expect(results.allCases.map(\.name) == ["auto", "auto-too"])
        #expect(!ResultsWriter.xml(results).contains("by-hand"))
        let junit = JUnitWriter.xml(results)
        #expect(junit.contains(#"<testsuites name="ots" tests="2" failures="1" errors="0" skipped="0""#))
        #expect(!junit.contains("by-hand"))
        let text = TextReport.text(results)
        #expect(!text.contains("by-hand"))
        #expect(text.contains("Test case name  : auto-too"))
    }

    @Test func manualModeLeavesAutomaticCasesOut() async throws {
        var harness = try RunnerHarness()
        harness.configuration.mode = .manual
        let results = try await harness.run(Self.mixedModes, judge: { _ in .pass })
        #expect(results.allCases.map(\.name) == ["by-hand"])
        #expect(results.case("by-hand")?.result == .pass)
        #expect(JUnitWriter.xml(results).contains(#"tests="1""#))
    }

    @Test func bothModesWithoutATerminalWriteManualCasesNotApplicable() async throws {
        var harness = try RunnerHarness()
        harness.configuration.mode = .both
        let results = try await harness.run(Self.mixedModes)
        #expect(results.allCases.map(\.name) == ["auto", "by-hand", "auto-too"])
        #expect(results.case("by-hand")?.result == .notApplicable)
    }

    /// A manual step in an automatic case: OTS never waits for input with
    /// -a and writes the step N/A (testrunner-lite would ask).
    @Test func aManualStepOfAnAutomaticCaseIsNotApplicableInAutomaticMode() async throws {
        let results = try await RunnerHarness().run(#"<case name="c"><step>true</step><step manual="true">Look</step></case>"#)
        #expect(results.case("c")?.steps.map(\.result) == [.pass, .notApplicable])
    }

    @Test func designCasesAndCasesWithoutStepsAreWrittenNotApplicable() async throws {
        let results = try await RunnerHarness().run(
            #"<case name="designed" state="Design"><step>true</step></case><case name="empty"/>"#
        )
        #expect(results.allCases.map(\.name) == ["designed", "empty"])
        #expect(results.allCases.allSatisfy { $0.result == .notApplicable })
    }

    @Test func aSetTurnedOffForTheEnvironmentIsLeftOut() async throws {
        let results = try await RunnerHarness().run(
            """
            <testdefinition version="1.0"><suite name="s">
              <set name="off"><environments><hardware>false</hardware></environments><case name="x"><step>true</step></case></set>
              <set name="on"><case name="y"><step>true</step></case></set>
            </suite></testdefinition>
            """
        )
        #expect(results.suites.first?.sets.map(\.attributes.name) == ["on"])
    }

    /// Filter values and the list attributes they are matched against
    /// (feature, requirement) are trimmed, as testrunner-lite trims them;
    /// type is one value, compared whole.
    @Test func filterListsAreTrimmed() async throws {
        var harness = try RunnerHarness()
        let xml = """
            <testdefinition version="1.0"><suite name="s">
              <set name="features" feature="audio, video"><case name="in-video"><step>true</step></case></set>
              <set name="other" feature="radio">
                <case name="req" requirement="100, 200"><step>true</step></case>
                <case name="typed" type="Functional positive"><step>true</step></case>
              </set>
            </suite></testdefinition>
            """
        harness.configuration.filter = try TestFilter(parsing: "feature=video")
        #expect(try await harness.run(xml).allCases.map(\.name) == ["in-video"])
        harness.configuration.filter = try TestFilter(parsing: "requirement=200")
        #expect(try await harness.run(xml).allCases.map(\.name) == ["req"])
        harness.configuration.filter = try TestFilter(parsing: #"testcase=" req , typed ""#)
        #expect(try await harness.run(xml).allCases.map(\.name) == ["req", "typed"])
        harness.configuration.filter = try TestFilter(parsing: #"type="Functional positive""#)
        #expect(try await harness.run(xml).allCases.map(\.name) == ["typed"])
        harness.configuration.filter = try TestFilter(parsing: "type=Functional")
        #expect(try await harness.run(xml).allCases.isEmpty)
    }
}

/// `--utf8-limit`: a sequence longer than the limit counts as invalid UTF-8.
@Suite struct UTF8LimitTests {
    /// "€" is three bytes in UTF-8, "é" two.
    static let step = #"<case name="c"><step>printf 'price: \342\202\254 caf\303\251'</step></case>"#

    @Test func theDefaultLimitKeepsEveryCharacter() async throws {
        let harness = try RunnerHarness()
        let results = try await harness.run(Self.step)
        #expect(results.case("c")?.steps.first?.stdout == "price: € café")
        #expect(!FileManager.default.fileExists(atPath: harness.folder.file("results/output")))
    }

    @Test func aLongerSequenceIsHandledAsInvalidUTF8() async throws {
        var harness = try RunnerHarness()
        harness.configuration.utf8Limit = 2
        let results = try await harness.run(Self.step)
        let stdout = try #require(results.case("c")?.steps.first?.stdout)
        #expect(stdout.hasPrefix("price: \u{FFFD} café\n["))
        #expect(stdout.contains("output has a UTF-8 sequence longer than 2 bytes; the whole output is in output/"))
        let kept = try FileManager.default.contentsOfDirectory(atPath: harness.folder.file("results/output"))
        #expect(kept.count == 1)
        let raw = try Data(contentsOf: URL(fileURLWithPath: harness.folder.file("results/output/" + kept[0])))
        #expect(String(decoding: raw, as: UTF8.self) == "price: € café")
        #expect(results.case("c")?.result == .pass)
    }

    @Test func theLimitCountsBytes() {
        #expect(CapturedOutput.isValidUTF8(Array("é".utf8), truncated: false, limit: 2))
        #expect(!CapturedOutput.isValidUTF8(Array("€".utf8), truncated: false, limit: 2))
        #expect(!CapturedOutput.isValidUTF8(Array("a".utf8) + [0xFF], truncated: false, limit: 4))
        #expect(!CapturedOutput.isValidUTF8(Array("é".utf8), truncated: false, limit: 1))
        #expect(CapturedOutput.isValidUTF8(Array("😀".utf8), truncated: false, limit: 4))
    }
}

/// `-d` and `--measure-power` with stand-ins for sp-rich-core (on the
/// target, here the local host) and hat_ctrl.
@Suite struct DeviceToolTests {
    /// Writes an executable script.
    static func tool(_ path: String, _ body: String) throws {
        try ("#!/bin/sh\n" + body).write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
    }

    @Test func richCoreDumpsAreTiedToTheirCaseAndFetched() async throws {
        var harness = try RunnerHarness()
        let bin = harness.folder.file("bin")
        let dumps = harness.folder.file("dumps")
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dumps, withIntermediateDirectories: true)
        // sysctl records the id of the core pattern it is given; a "crash"
        // writes a dump with the current id, which rich-core-find-uuid
        // reports as a crash id.
        try Self.tool(bin + "/rich-core-dumper", "exit 0\n")
        try Self.tool(
            bin + "/sysctl",
            #"echo "$@" >> "$WORK/sysctl.log"; echo "$@" | sed 's/.*--tc-uuid=\([0-9a-f]*\).*/\1/' > "$WORK/uuid""# + "\n")
        try Self.tool(
            bin + "/rich-core-find-uuid",
            #"ls "$1"*"$2"* >/dev/null 2>&1 || exit 1; echo "crash-$2""# + "\n")
        harness.configuration.stepEnvironment["PATH"] = bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        harness.configuration.stepEnvironment["DUMPS"] = dumps
        harness.configuration.richCoreDumps = dumps
        let events = EventLog()
        let report = try await harness.report(
            """
            <case name="crashes"><step>touch "$DUMPS/app.$(cat "$WORK/uuid").rcore.lzo"</step></case>
            <case name="calm"><step>true</step></case>
            """,
            onEvent: { events.append($0) }
        )
        let crashed = try #require(report.results.case("crashes"))
        let uuid = try #require(crashed.richCoreUUID)
        #expect(uuid.count == 36 && !uuid.contains("-"))
        #expect(crashed.crashIDs == ["crash-" + uuid])
        #expect(FileManager.default.fileExists(atPath: harness.folder.file("results/app.\(uuid).rcore.lzo")))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dumps).isEmpty, "fetched dumps are removed on the target")
        #expect(report.results.case("calm")?.richCoreUUID == nil)
        let patterns = try String(contentsOfFile: harness.folder.file("sysctl.log"), encoding: .utf8).split(separator: "\n")
        #expect(patterns.count == 2, "one core pattern per case")
        #expect(patterns.first == "-q -w kernel.core_pattern=|/usr/sbin/rich-core-dumper --pid=%p --signal=%s --name=%e --tc-uuid=\(uuid)")
        let xml = ResultsWriter.xml(report.results)
        #expect(xml.contains("<rich_core_uuid>\(uuid)</rich_core_uuid>"))
        #expect(xml.contains("<crash_id>crash-\(uuid)</crash_id>"))
        #expect(!events.events.contains { if case .warning = $0 { true } else { false } })
    }

    @Test func withoutSpRichCoreOneWarningAndTheRunGoesOn() async throws {
        var harness = try RunnerHarness()
        harness.configuration.stepEnvironment["PATH"] = "/nonexistent"
        harness.configuration.richCoreDumps = "/var/cache/core-dumps"
        let events = EventLog()
        let report = try await harness.report(
            #"<case name="a"><step>/bin/true</step></case><case name="b"><step>/bin/true</step></case>"#,
            onEvent: { events.append($0) })
        let warnings = events.events.compactMap { if case .warning(let text) = $0 { text } else { nil } }
        #expect(warnings == ["-d: rich-core-dumper (sp-rich-core) is not on the target; cases run without rich-core dumps"])
        #expect(report.results.allCases.map(\.result) == [.pass, .pass])
        #expect(report.results.allCases.allSatisfy { $0.richCoreUUID == nil })
    }

    @Test func powerIsMeasuredAroundEachCase() async throws {
        var harness = try RunnerHarness()
        let hat = harness.folder.file("hat_ctrl")
        // -stream:5:s1-2:fFILE:0 starts streaming into FILE; -stream:0 stops.
        try Self.tool(
            hat,
            """
            echo "$@" >> "\(harness.folder.file("hat.log"))"
            case "$1" in -stream:5:*) file=${1#-stream:5:s1-2:f}; file=${file%:0}; printf '101.5\\n99\\nnoise\\n100.25\\n' > "$file";; esac
            """)
        harness.configuration.measurePower = true
        harness.configuration.hatControl = hat
        let results = try await harness.run(#"<case name="c"><step>true</step></case>"#)
        let series = try #require(results.case("c")?.series.first)
        #expect(series.name == "Current samples")
        #expect(series.unit == "mA")
        #expect(series.group == "Current measurement")
        #expect(series.interval == 200 && series.intervalUnit == "ms")
        #expect(series.points.map(\.value) == [101.5, 99, 100.25])
        let calls = try String(contentsOfFile: harness.folder.file("hat.log"), encoding: .utf8).split(separator: "\n")
        #expect(calls.count == 2)
        #expect(calls.first?.hasPrefix("-stream:5:s1-2:f") == true && calls.first?.hasSuffix(":0") == true)
        #expect(calls.last == "-stream:0")
    }

    @Test func withoutHatControlOneWarningAndTheRunGoesOn() async throws {
        var harness = try RunnerHarness()
        harness.configuration.measurePower = true
        harness.configuration.hatControl = harness.folder.file("no-hat_ctrl")
        let events = EventLog()
        let report = try await harness.report(
            #"<case name="a"><step>true</step></case><case name="b"><step>true</step></case>"#, onEvent: { events.append($0) })
        let warnings = events.events.compactMap { if case .warning(let text) = $0 { text } else { nil } }
        #expect(warnings.count == 1)
        #expect(warnings.first?.hasPrefix("--measure-power: ") == true)
        #expect(report.results.allCases.allSatisfy { $0.result == .pass && $0.series.isEmpty })
    }
}

/// `-u` and `-U`, and step times with milliseconds (what workers upload).
@Suite struct ResultsURLAndTimeTests {
    @Test func theURLsAreWrittenFirstAndReadBack() async throws {
        var results = try await RunnerHarness().run(#"<case name="c"><step>true</step></case>"#)
        results.vcsURL = "https://git.example.com/tests.git"
        results.packageURL = "https://packages.example.com/tests-1.0.rpm"
        let xml = ResultsWriter.xml(results)
        try await SchemaCheck.validate(xml)
        #expect(
            xml.contains(
                "<vcsurl>https://git.example.com/tests.git</vcsurl>\n  <packageurl>https://packages.example.com/tests-1.0.rpm</packageurl>")
        )
        let read = try ResultsParser().parse(Data(xml.utf8), file: "results.xml")
        #expect(read.vcsURL == results.vcsURL)
        #expect(read.packageURL == results.packageURL)
    }

    @Test func fractionalStepTimesRoundTripToTheMillisecond() async throws {
        let results = try await RunnerHarness().run(#"<case name="c"><step>sleep 0.3</step></case>"#)
        let xml = ResultsWriter.xml(results, fractionalSeconds: true)
        try await SchemaCheck.validate(xml)
        #expect(xml.range(of: #"<start>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}</start>"#, options: .regularExpression) != nil)
        #expect(
            ResultsWriter.xml(results).range(of: #"\d\d:\d\d:\d\d\.\d"#, options: .regularExpression) == nil,
            "without it, whole seconds as testrunner-lite writes")
        let step = try #require(results.case("c")?.steps.first)
        let read = try #require(try ResultsParser().parse(Data(xml.utf8), file: "r.xml").allCases.first?.steps.first)
        #expect(abs(read.start.timeIntervalSince(step.start)) < 0.001)
        #expect(abs(read.end.timeIntervalSince(step.end)) < 0.001)
        let time = try #require(Self.caseTime(JUnitWriter.xml(try ResultsParser().parse(Data(xml.utf8), file: "r.xml"))))
        #expect(time >= 0.29 && time < 5, "\(time)")
    }

    /// The `time` of the first testcase of a JUnit document.
    static func caseTime(_ junit: String) -> Double? {
        guard let range = junit.range(of: #"<testcase [^>]*time="([0-9.]+)""#, options: .regularExpression) else { return nil }
        let match = junit[range]
        guard let start = match.range(of: #"time=""#) else { return nil }
        return Double(match[start.upperBound...].dropLast())
    }
}

/// `-i`: the product and build come from another host.
@Suite struct HardwareInfoTargetTests {
    @Test func productAndBuildAreAskedOfTheHardwareInfoTarget() async throws {
        var harness = try RunnerHarness()
        let executor = harness.folder.file("other-host")
        // An executor for "another host": it answers every command alike.
        try DeviceToolTests.tool(executor, #"echo "$1" >> "$(dirname "$0")/asked"; echo board-on-other-host"# + "\n")
        harness.configuration.collectHardwareInfo = true
        harness.configuration.hardwareInfoTarget = .external([executor])
        let results = try await harness.run(#"<case name="c"><step>echo "$$" > "$WORK/step-ran-here"</step></case>"#)
        #expect(results.hwproduct == "board-on-other-host")
        #expect(results.hwbuild == "board-on-other-host")
        let asked = try String(contentsOfFile: harness.folder.file("asked"), encoding: .utf8)
        #expect(asked.contains(Runner.productCommand) && asked.contains(Runner.buildCommand))
        #expect(!asked.contains("step-ran-here"), "steps still run on the target")
        #expect(FileManager.default.fileExists(atPath: harness.folder.file("step-ran-here")))
    }
}

/// `-R`: a lost target that comes back lets the run resume.
@Suite(.timeLimit(.minutes(5))) struct ResumeTests {
    /// An executor for a target that is "down" (exit 255) while the marker
    /// file exists; the first case's step takes it down.
    static let definition = """
        <testdefinition version="1.0"><suite name="s">
          <set name="first">
            <case name="drops"><step>touch "$WORK/down"; exit 255</step></case>
            <case name="after-drop"><step>true</step></case>
            <post_steps><step>touch "$WORK/post-ran"</step></post_steps>
          </set>
          <set name="second"><case name="later"><step>true</step></case></set>
        </suite></testdefinition>
        """

    static func harness(resume: RunConfiguration.ResumeAction?) throws -> RunnerHarness {
        var harness = try RunnerHarness()
        let executor = harness.folder.file("executor")
        try DeviceToolTests.tool(executor, #"[ -e "$WORK/down" ] && exit 255; exec /bin/sh -c "$1""# + "\n")
        harness.configuration.target = .external([executor])
        harness.configuration.resume = resume
        return harness
    }

    /// Brings the target back once it went down (a condition, with a limit).
    static func bringBack(_ harness: RunnerHarness) -> Task<Void, Never> {
        let marker = harness.folder.file("down")
        return Task {
            try? await eventually("the target to go down", every: .milliseconds(50)) { FileManager.default.fileExists(atPath: marker) }
            try? FileManager.default.removeItem(atPath: marker)
        }
    }

    @Test func continueRunsThePostStepsAndTheNextSets() async throws {
        let harness = try Self.harness(resume: .continue)
        let back = Self.bringBack(harness)
        let report = try await harness.report(Self.definition)
        await back.value
        #expect(report.abort == nil)
        #expect(report.results.case("drops")?.steps.first?.failureInfo == "connection failure")
        #expect(report.results.case("after-drop")?.result == .fail)
        #expect(report.results.case("after-drop")?.failureInfo == "earlier connection failure")
        #expect(report.results.suites[0].sets[0].postSteps.map(\.result) == [.pass])
        #expect(FileManager.default.fileExists(atPath: harness.folder.file("post-ran")))
        #expect(report.results.case("later")?.result == .pass)
    }

    @Test func exitRunsThePostStepsThenEndsTheRun() async throws {
        let harness = try Self.harness(resume: .exit)
        let back = Self.bringBack(harness)
        let report = try await harness.report(Self.definition)
        await back.value
        #expect(report.abort == .connectionLost)
        #expect(FileManager.default.fileExists(atPath: harness.folder.file("post-ran")))
        #expect(report.results.case("later")?.result == .fail)
        #expect(report.results.case("later")?.failureInfo == "earlier connection failure")
    }

    @Test func withoutItALostTargetEndsTheRun() async throws {
        let harness = try Self.harness(resume: nil)
        let back = Self.bringBack(harness)
        let report = try await harness.report(Self.definition)
        await back.value
        #expect(report.abort == .connectionLost)
        #expect(!FileManager.default.fileExists(atPath: harness.folder.file("post-ran")))
        #expect(report.results.case("later")?.result == .fail)
    }
}
