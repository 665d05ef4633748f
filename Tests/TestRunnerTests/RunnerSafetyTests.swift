import Foundation
import OTSTestSupport
import TestDefinition
import Testing

@testable import TestRunner

/// Paths, timeouts and documents that once did harm.
@Suite struct RunnerSafetyTests {
    @Test func deleteAfterRemovesExactlyTheFetchedFileWhenItsNameHasASpace() async throws {
        let harness = try RunnerHarness()
        try harness.folder.write("my", "bystander")
        let results = try await harness.run(
            """
            <case name="c"><step>echo data &gt; "$WORK/my file"</step></case>
            <get><file delete_after="true">\(harness.folder.path)/my file</file></get>
            """
        )
        #expect(results.case("c")?.result == .pass)
        #expect(try String(contentsOfFile: harness.folder.file("results/my file"), encoding: .utf8) == "data\n")
        #expect(!FileManager.default.fileExists(atPath: harness.folder.file("my file")))
        #expect(FileManager.default.fileExists(atPath: harness.folder.file("my")))
    }

    @Test func aFetchedNameOfDotDotIsRefusedAndNothingOutsideIsTouched() async throws {
        var harness = try RunnerHarness()
        try harness.folder.write("executor.sh", "#!/bin/sh\nexec /bin/sh -c \"$1\"\n")
        chmod(harness.folder.file("executor.sh"), 0o755)
        harness.configuration.target = .external([harness.folder.file("executor.sh")])
        try harness.folder.write("results/earlier.txt", "kept")
        try harness.folder.write("sibling/keep.txt", "kept")
        let log = EventLog()
        let report = try await harness.report(
            #"<case name="c"><step>true</step></case><get><file>/etc/hostname #/..</file></get>"#,
            onEvent: { log.append($0) }
        )
        #expect(report.results.case("c")?.result == .pass)
        #expect(FileManager.default.fileExists(atPath: harness.folder.file("results/earlier.txt")))
        #expect(FileManager.default.fileExists(atPath: harness.folder.file("sibling/keep.txt")))
        let warnings = log.events.compactMap { if case .warning(let text) = $0 { text } else { nil } }
        #expect(warnings.contains { $0.contains("'..' is not a file name to keep in the results folder") })
    }

    @Test func aRebootStepAmongPostRebootStepsDoesNotStartThemAgain() async throws {
        let results = try await RunnerHarness().run(
            """
            <post_reboot_steps><step control="reboot">echo again</step></post_reboot_steps>
            <case name="c"><step control="reboot">echo first</step></case>
            """
        )
        let step = try #require(results.case("c")?.steps.first)
        #expect(step.postRebootSteps.count == 1)
        #expect(step.postRebootSteps[0].postRebootSteps.isEmpty)
    }

    @Test func anEnormousTimeoutIsBoundedNotACrash() async throws {
        let results = try await RunnerHarness().run(#"<case name="c" timeout="9223372036854775807"><step>true</step></case>"#)
        #expect(results.case("c")?.result == .pass)
    }

    @Test func aTimeoutThroughAnExecutorIsReportedAsATimeout() async throws {
        var harness = try RunnerHarness()
        try harness.folder.write("executor.sh", "#!/bin/sh\nexec /bin/sh -c \"$1\"\n")
        chmod(harness.folder.file("executor.sh"), 0o755)
        harness.configuration.target = .external([harness.folder.file("executor.sh")])
        let results = try await harness.run(#"<case name="c" timeout="1"><step>while true; do sleep 1; done</step></case>"#)
        let step = try #require(results.case("c")?.steps.first)
        #expect(step.failureInfo?.hasPrefix("timeout after 1 s") == true)
    }

    @Test func entityDeclarationsAreRefusedNotDropped() {
        let xml = """
            <?xml version="1.0"?>
            <!DOCTYPE testdefinition [<!ENTITY dir "/opt/tests">]>
            <testdefinition version="1.0"><suite name="s"><set name="t"><case name="c"><step>echo "&dir;/run.sh"</step></case></set></suite></testdefinition>
            """
        do {
            _ = try DefinitionParser().parse(Data(xml.utf8), file: "entities.xml")
            Issue.record("a document with an entity declaration was accepted")
        } catch {
            #expect(
                error.errors.map(\.message) == ["entity declarations are not supported (entity 'dir'): write the text out in the document"])
        }
    }
}
