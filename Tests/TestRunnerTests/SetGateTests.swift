import Foundation
import OTSTestSupport
import Synchronization
import TestDefinition
import Testing

@testable import TestRunner

/// The gate OTS workers ask before each set (dynamic balancing).
@Suite struct SetGateTests {
    @Test func aSetTheGateRefusesIsNeitherRunNorWritten() async throws {
        var harness = try RunnerHarness()
        let asked = Mutex<[String]>([])
        harness.configuration.setGate = { reference in
            asked.withLock { $0.append(reference.description) }
            return reference.set != "moved"
        }
        let results = try await harness.run(
            """
            <testdefinition version="1.0">
              <suite name="s">
                <set name="kept"><case name="k"><step>true</step></case></set>
                <set name="moved"><case name="m"><step>touch "$WORK/moved-ran"</step></case></set>
              </suite>
              <suite name="elsewhere">
                <set name="moved"><case name="m2"><step>true</step></case></set>
              </suite>
            </testdefinition>
            """
        )
        #expect(asked.withLock { $0 } == ["s/kept", "s/moved", "elsewhere/moved"])
        #expect(results.suites.map(\.attributes.name) == ["s"], "a suite all of whose sets ran elsewhere is left out")
        #expect(results.suites[0].sets.map(\.attributes.name) == ["kept"])
        #expect(!FileManager.default.fileExists(atPath: harness.folder.file("moved-ran")))
    }
}
