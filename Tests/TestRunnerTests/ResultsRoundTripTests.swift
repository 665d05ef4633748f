import Foundation
import OTSTestSupport
import TestDefinition
import Testing

@testable import TestRunner

/// Results written by the runner read back the same, and merge.
@Suite struct ResultsRoundTripTests {
    @Test func writtenResultsReadBackTheSame() async throws {
        let harness = try RunnerHarness()
        let file = harness.folder.file("m.txt")
        let results = try await harness.run(
            """
            <testdefinition version="2.0"><suite name="s" domain="d"><set name="t" feature="f">
              <pre_steps timeout="20"><step>echo pre</step></pre_steps>
              <case name="a" TC_ID="X-1" bugzilla_id="12" subfeature="sub"><step>echo "a &amp; b"</step>
                <step expected_result="3">exit 3</step>
                <event type="wait" resource="r"><param type="number" name="n">1</param></event>
                <get><file measurement="true">\(file)</file></get></case>
              <case name="b" insignificant="true"><step>echo out; false</step><step>true</step></case>
              <post_steps><step>echo post</step></post_steps>
            </set></suite></testdefinition>
            """.replacingOccurrences(of: "<step>echo pre</step>", with: "<step>echo pre; printf 'x;1.5;s;1;2' &gt; \"$WORK/m.txt\"</step>")
        )
        let xml = ResultsWriter.xml(results)
        let parsed = try ResultsParser().parse(Data(xml.utf8), file: "results.xml")
        // Times are written to the second.
        func truncated(_ results: TestResults) -> TestResults {
            var copy = results
            for s in copy.suites.indices {
                for t in copy.suites[s].sets.indices {
                    func fix(_ steps: inout [StepResult]) {
                        for i in steps.indices {
                            steps[i].start = Date(timeIntervalSince1970: steps[i].start.timeIntervalSince1970.rounded(.down))
                            steps[i].end = Date(timeIntervalSince1970: steps[i].end.timeIntervalSince1970.rounded(.down))
                            // A step that did not run is written with code 0 and empty output.
                            if steps[i].returnCode == nil { steps[i].returnCode = 0 }
                            if steps[i].stdout == nil { steps[i].stdout = "" }
                            if steps[i].stderr == nil { steps[i].stderr = "" }
                        }
                    }
                    fix(&copy.suites[s].sets[t].preSteps)
                    fix(&copy.suites[s].sets[t].postSteps)
                    for c in copy.suites[s].sets[t].cases.indices { fix(&copy.suites[s].sets[t].cases[c].steps) }
                }
            }
            return copy
        }
        #expect(truncated(parsed) == truncated(results))
        #expect(parsed.version == "2.0")
        #expect(parsed.allCases.first?.measurements.first?.value == 1.5)
    }

    @Test func resultsOfSeveralTasksMergeIntoOneValidDocument() async throws {
        let harness = try RunnerHarness()
        let first = try await harness.run(
            #"<testdefinition version="1.0"><suite name="pkg"><set name="one"><case name="a"><step>true</step></case></set></suite></testdefinition>"#
        )
        let second = try await harness.run(
            #"<testdefinition version="1.0"><suite name="pkg"><set name="two"><case name="b"><step>false</step></case></set></suite><suite name="other"><set name="x"><case name="c"><step>true</step></case></set></suite></testdefinition>"#
        )
        let merged = TestResults.merged([first, second])
        #expect(merged.suites.map(\.attributes.name) == ["pkg", "other"])
        #expect(merged.suites[0].sets.map(\.attributes.name) == ["one", "two"])
        #expect(merged.allCases.map(\.name) == ["a", "b", "c"])
        try await SchemaCheck.validate(ResultsWriter.xml(merged))
    }

    @Test(arguments: [
        ("<testresults/>", "<testresults> is missing the required attribute 'environment'"),
        ("<results/>", "the root element is <results>, expected <testresults>"),
        (
            #"<testresults version="1" environment="e" hwproduct="p" hwbuild="b"><suite name="s"><set name="t"><case name="c" result="MAYBE"/></set></suite></testresults>"#,
            "attribute 'result' of <case> must be PASS, FAIL or N/A, not 'MAYBE'"
        ),
    ])
    func badResultsAreRejectedWithTheirPlace(xml: String, message: String) {
        do {
            _ = try ResultsParser().parse(Data(xml.utf8), file: "r.xml")
            Issue.record("accepted bad results")
        } catch {
            #expect(error.errors.map(\.message).contains(message))
            #expect(error.errors.allSatisfy { $0.location.file == "r.xml" && $0.location.line == 1 })
        }
    }
}
