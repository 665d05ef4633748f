import Foundation
import OTSTestSupport
import TestDefinition
import Testing

@testable import TestRunner

@Suite struct RunnerFileTests {
    @Test func filesAreFetchedIntoTheResultsFolderAndDeletedWhenAsked() async throws {
        let harness = try RunnerHarness()
        let keep = harness.folder.file("keep.log")
        let drop = harness.folder.file("drop.log")
        let results = try await harness.run(
            """
            <case name="c"><step>echo kept &gt; "$WORK/keep.log"; echo dropped &gt; "$WORK/drop.log"</step></case>
            <get><file>\(keep)</file><file delete_after="true">\(drop)</file></get>
            """
        )
        #expect(results.case("c")?.result == .pass)
        #expect(try String(contentsOfFile: harness.folder.file("results/keep.log"), encoding: .utf8) == "kept\n")
        #expect(try String(contentsOfFile: harness.folder.file("results/drop.log"), encoding: .utf8) == "dropped\n")
        #expect(FileManager.default.fileExists(atPath: keep))
        #expect(!FileManager.default.fileExists(atPath: drop))
        #expect(results.suites[0].sets[0].get.map(\.path) == [keep, drop])
    }

    @Test func aMissingFileIsAWarningNotAFailure() async throws {
        let harness = try RunnerHarness()
        let log = EventLog()
        let definition = try harness.definition(
            #"<case name="c"><step>true</step></case><get><file>/nonexistent/file.log</file></get>"#
        )
        let results = try await Runner(configuration: harness.configuration).run(definition) { log.append($0) }.results
        #expect(results.case("c")?.result == .pass)
        let warnings = log.events.compactMap { if case .warning(let text) = $0 { text } else { nil } }
        #expect(warnings == ["could not fetch /nonexistent/file.log: no such file"])
    }

    @Test func fetchedPathsAreShellTextSoGlobsWork() async throws {
        let harness = try RunnerHarness()
        let results = try await harness.run(
            """
            <case name="c"><step>echo 1 &gt; "$WORK/log-1.txt"; echo 2 &gt; "$WORK/log-2.txt"</step></case>
            <get><file>\(harness.folder.path)/log-*.txt</file></get>
            """
        )
        #expect(results.case("c")?.result == .pass)
        #expect(try String(contentsOfFile: harness.folder.file("results/log-1.txt"), encoding: .utf8) == "1\n")
        #expect(try String(contentsOfFile: harness.folder.file("results/log-2.txt"), encoding: .utf8) == "2\n")
    }

    @Test func setFilesAreNotFetchedWhenPreStepsFailed() async throws {
        let harness = try RunnerHarness()
        let file = harness.folder.file("set.log")
        _ = try await harness.run(
            """
            <pre_steps><step expected_result="0">echo x &gt; "$WORK/set.log"; exit 1</step></pre_steps>
            <case name="c"><step>true</step></case>
            <get><file>\(file)</file></get>
            """
        )
        #expect(FileManager.default.fileExists(atPath: file))
        #expect(!FileManager.default.fileExists(atPath: harness.folder.file("results/set.log")))
    }

    @Test func aMeasurementBeyondItsFailureLimitFailsTheCase() async throws {
        let harness = try RunnerHarness()
        let file = harness.folder.file("m.txt")
        let xml = """
            <case name="fast"><step>printf 'boot;12.5;s;10;20;\\nfps;55;fps;60;30\\n' &gt; "$WORK/m.txt"</step>
              <get><file measurement="true">\(file)</file></get></case>
            <case name="slow"><step>printf 'boot;25;s;10;20\\n' &gt; "$WORK/m.txt"</step>
              <get><file measurement="true">\(file)</file></get></case>
            """
        let results = try await harness.run(xml)
        let fast = try #require(results.case("fast"))
        #expect(fast.result == .pass)
        #expect(
            fast.measurements == [
                TestMeasurement(name: "boot", value: 12.5, unit: "s", target: 10, failure: 20),
                TestMeasurement(name: "fps", value: 55, unit: "fps", target: 60, failure: 30),
            ]
        )
        let slow = try #require(results.case("slow"))
        #expect(slow.result == .fail)
        #expect(slow.failureInfo == "boot - measured value too big")
        #expect(ResultsWriter.xml(results).contains(#"<measurement name="boot" value="25" unit="s" target="10" failure="20"/>"#))

        var lenient = harness
        lenient.configuration.measurementVerdict = false
        let withoutVerdict = try await lenient.run(xml)
        #expect(withoutVerdict.case("slow")?.result == .pass)
        #expect(withoutVerdict.case("slow")?.measurements.first?.value == 25)
    }

    @Test func seriesFilesAreReadAndJudged() async throws {
        let harness = try RunnerHarness()
        let file = harness.folder.file("series.txt")
        let results = try await harness.run(
            """
            <case name="c"><step>printf 'memory;MB;100;200\\n2026-01-01T10:00:00Z;120\\n2026-01-01T10:00:10Z;250\\n' &gt; "$WORK/series.txt"</step>
              <get><file series="true">\(file)</file></get></case>
            """
        )
        let testCase = try #require(results.case("c"))
        #expect(testCase.series.first?.points.map(\.value) == [120, 250])
        #expect(testCase.result == .fail)
        #expect(testCase.failureInfo == "memory - measurement series value over failure limit")
        #expect(ResultsWriter.xml(results).contains(#"<measurement value="250" timestamp="2026-01-01T10:00:10Z"/>"#))
    }

    @Test func anUnreadableMeasurementFileFailsTheCase() async throws {
        let harness = try RunnerHarness()
        let file = harness.folder.file("m.txt")
        let results = try await harness.run(
            """
            <case name="c"><step>echo 'boot;fast;s' &gt; "$WORK/m.txt"</step>
              <get><file measurement="true">\(file)</file></get></case>
            """
        )
        #expect(results.case("c")?.result == .fail)
        #expect(results.case("c")?.failureInfo == "Failed to process measurement file: \(file):1: value 'fast' is not a number")
    }
}

@Suite struct MeasurementFileTests {
    @Test func readsMeasurementsAndSkipsCommentsAndBlankLines() throws {
        let values = try MeasurementFile.measurements(in: "# boot times\n\nboot;1.5;s;\n  skipped;1;s\ncpu; 30 ; % ;10;90\n", file: "m")
        #expect(
            values == [
                TestMeasurement(name: "boot", value: 1.5, unit: "s"),
                TestMeasurement(name: "cpu", value: 30, unit: "%", target: 10, failure: 90),
            ])
    }

    @Test(arguments: [
        ("boot;1.5", "m:1: expected name;value;unit or name;value;unit;target;failure, found 2 fields"),
        ("boot;1.5;s;10;", "m:1: expected name;value;unit or name;value;unit;target;failure, found 4 fields"),
        ("boot;x;s", "m:1: value 'x' is not a number"),
        (";1;s", "m:1: the measurement has no name"),
        ("a;1;s\nb;1;s;2", "m:2: expected name;value;unit or name;value;unit;target;failure, found 4 fields"),
        ("a;1;s;t;2", "m:1: target 't' is not a number"),
    ])
    func rejectsBadLinesWithTheirNumber(text: String, message: String) {
        #expect(throws: MeasurementFile.ParseError.self) { try MeasurementFile.measurements(in: text, file: "m") }
        do {
            _ = try MeasurementFile.measurements(in: text, file: "m")
        } catch {
            #expect(error.description == message)
        }
    }

    @Test func failureLimitDirectionFollowsTheTarget() {
        // Smaller is better when the target is below the failure limit; the
        // limit itself fails...
        #expect(TestMeasurement(name: "t", value: 20, unit: "s", target: 10, failure: 20).verdict == "t - measured value too big")
        #expect(TestMeasurement(name: "t", value: 19, unit: "s", target: 10, failure: 20).verdict == nil)
        // ...larger is better when it is above.
        #expect(TestMeasurement(name: "fps", value: 30, unit: "fps", target: 60, failure: 30).verdict == "fps - measured value too small")
        #expect(TestMeasurement(name: "fps", value: 31, unit: "fps", target: 60, failure: 30).verdict == nil)
        // Without both limits, or with equal ones, there is no verdict.
        #expect(TestMeasurement(name: "x", value: 1e9, unit: "s", failure: 10).verdict == nil)
        #expect(TestMeasurement(name: "x", value: 1e9, unit: "s", target: 10, failure: 10).verdict == nil)
    }

    @Test func seriesTimestampsInLocalTimeWithFractions() throws {
        let series = try MeasurementFile.series(
            in: "Temperature;C;60;70\n2011-03-07T11:16:11;22.5\n2011-04-22T17:05:10.012304;49.06\n", file: "s")
        #expect(series.name == "Temperature")
        #expect(series.points.map(\.value) == [22.5, 49.06])
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = .current
        let expected = calendar.date(from: DateComponents(year: 2011, month: 3, day: 7, hour: 11, minute: 16, second: 11))
        #expect(series.points[0].timestamp == expected)
        #expect(series.verdict == nil)
    }

    @Test func seriesNeedsAHeader() {
        #expect(throws: MeasurementFile.ParseError.self) { try MeasurementFile.series(in: "", file: "s") }
        #expect(throws: MeasurementFile.ParseError.self) { try MeasurementFile.series(in: "name;unit\nyesterday;5", file: "s") }
    }
}
