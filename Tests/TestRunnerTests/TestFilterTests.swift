import Foundation
import OTSTestSupport
import TestDefinition
import Testing

@testable import TestRunner

@Suite struct TestFilterTests {
    static let xml = """
        <testdefinition version="1.0"><suite name="s">
          <set name="net" feature="wifi,bt">
            <case name="scan" requirement="REQ-1, REQ-2" type="Functional positive" component="driver"><step>true</step></case>
            <case name="connect" requirement="REQ-3" type="Security"><step>true</step></case>
          </set>
          <set name="ui" feature="display">
            <case name="draw" type="Performance" component="gfx"><step>true</step></case>
          </set>
        </suite></testdefinition>
        """

    func run(_ filter: String) async throws -> [String] {
        var harness = try RunnerHarness()
        harness.configuration.filter = try TestFilter(parsing: filter)
        return try await harness.run(Self.xml).allCases.map(\.name)
    }

    @Test(arguments: [
        ("", ["scan", "connect", "draw"]),
        ("testcase=scan", ["scan"]),
        ("+testcase=scan,draw", ["scan", "draw"]),
        ("-testcase=scan", ["connect", "draw"]),
        ("testset=ui", ["draw"]),
        ("-testset=ui", ["scan", "connect"]),
        ("feature=bt", ["scan", "connect"]),
        ("requirement=REQ-2", ["scan"]),
        ("requirement=REQ-2,REQ-3", ["scan", "connect"]),
        ("type=\"Functional positive\"", ["scan"]),
        ("'type=Functional positive,Performance'", ["scan", "draw"]),
        ("component=gfx", ["draw"]),
        ("feature=wifi -type=Security", ["scan"]),
        ("testset=net testcase=draw", []),
        ("-testcase=scan -testcase=draw", ["connect"]),
    ])
    func selectsCases(filter: String, expected: [String]) async throws {
        #expect(try await run(filter) == expected)
    }

    @Test(arguments: [
        ("testcase", "filter term 'testcase' needs the form [+|-]key=value"),
        (
            "colour=red",
            "filter term 'colour=red': unknown key 'colour' (use one of testsuite, testset, testcase, feature, requirement, type, component)"
        ),
        ("testcase=", "filter term 'testcase=' has no value"),
        ("type=\"open", "filter 'type=\"open' has an unclosed quote"),
    ])
    func rejectsBadFilters(filter: String, message: String) {
        #expect(throws: RunnerError(.invalidArgument, message)) { try TestFilter(parsing: filter) }
    }
}
