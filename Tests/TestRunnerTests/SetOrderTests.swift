import Foundation
import OTSTestSupport
import TestDefinition
import Testing

@testable import TestRunner

/// The order sets run in: definition order, as testrunner-lite, unless a
/// plan gives one (OTS's history model: longest estimated first).
@Suite struct SetOrderTests {
    static let definition = """
        <testdefinition version="1.0">
          <suite name="s">
            <set name="short"><case name="a"><step>echo short &gt;&gt; "$WORK/order"</step></case></set>
            <set name="long"><case name="b"><step>echo long &gt;&gt; "$WORK/order"</step></case></set>
          </suite>
          <suite name="t">
            <set name="middle"><case name="c"><step>echo middle &gt;&gt; "$WORK/order"</step></case></set>
            <set name="unplanned"><case name="d"><step>echo unplanned &gt;&gt; "$WORK/order"</step></case></set>
          </suite>
        </testdefinition>
        """

    func ran(_ harness: RunnerHarness) throws -> [String] {
        try String(contentsOfFile: harness.folder.file("order"), encoding: .utf8).split(separator: "\n").map(String.init)
    }

    @Test func withoutAnOrderSetsRunInDefinitionOrder() async throws {
        let harness = try RunnerHarness()
        let results = try await harness.run(Self.definition)
        #expect(try ran(harness) == ["short", "long", "middle", "unplanned"])
        #expect(results.suites.map { $0.sets.map(\.attributes.name) } == [["short", "long"], ["middle", "unplanned"]])
    }

    @Test func aGivenOrderRunsTheNamedSetsFirstThenTheRestInDefinitionOrder() async throws {
        var harness = try RunnerHarness()
        harness.configuration.setOrder = ["long", "middle", "short"]
        let results = try await harness.run(Self.definition)
        #expect(try ran(harness) == ["long", "middle", "short", "unplanned"])
        // Results keep the suites in definition order, each with its sets as they ran.
        #expect(results.suites.map(\.attributes.name) == ["s", "t"])
        #expect(results.suites.map { $0.sets.map(\.attributes.name) } == [["long", "short"], ["middle", "unplanned"]])
        #expect(results.allCases.allSatisfy { $0.result == .pass })
    }

    @Test func anOrderOnlyOrdersTheSetsThatRun() async throws {
        var harness = try RunnerHarness()
        harness.configuration.setOrder = ["unplanned", "long", "short"]
        harness.configuration.onlySets = [SetReference(suite: "s", set: "short"), SetReference(suite: "s", set: "long")]
        let results = try await harness.run(Self.definition)
        #expect(try ran(harness) == ["long", "short"])
        #expect(results.suites.map(\.attributes.name) == ["s"])
    }

    @Test func oneNameInTwoSuitesRunsInDefinitionOrderAtItsPlace() throws {
        let definition = try RunnerHarness().definition(
            """
            <testdefinition version="1.0">
              <suite name="s">
                <set name="x"><case name="a"><step>true</step></case></set>
                <set name="y"><case name="b"><step>true</step></case></set>
              </suite>
              <suite name="t">
                <set name="y"><case name="c"><step>true</step></case></set>
                <set name="z"><case name="d"><step>true</step></case></set>
              </suite>
            </testdefinition>
            """)
        #expect(Runner.runOrder(definition, setOrder: ["y", "z"]).map { [$0.suite, $0.set] } == [[0, 1], [1, 0], [1, 1], [0, 0]])
        #expect(Runner.runOrder(definition, setOrder: nil).map { [$0.suite, $0.set] } == [[0, 0], [0, 1], [1, 0], [1, 1]])
    }
}
