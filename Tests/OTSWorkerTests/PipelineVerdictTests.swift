import Foundation
import OTSCore
import OTSTestSupport
import Testing

@testable import OTSWorker

/// The worker judges a package by the testrun's `VerdictRules`: an
/// insignificant failure fails the package (and is reported as a failure)
/// only when the request counts insignificant failures.
@Suite struct PipelineVerdictTests {
    /// A package with a passing case and a failing insignificant one.
    static func package(in folder: TemporaryDirectory) throws {
        try folder.write(
            "packages/mixed/tests.xml",
            """
            <?xml version="1.0" encoding="UTF-8"?>
            <testdefinition version="1.0"><suite name="mixed"><set name="set">
            <case name="passes"><step>true</step></case>
            <case name="flaky" insignificant="true"><step>false</step></case>
            </set></suite></testdefinition>
            """)
    }

    static func events(_ spool: Spool) throws -> [MonitorEvent] {
        try spool.pending.flatMap { name -> [MonitorEvent] in
            guard case .events(let batch) = try spool.read(name).0 else { return [] }
            return batch
        }
    }

    @Test(arguments: [(nil, Verdict.pass), (false, .pass), (true, .fail)] as [(Bool?, Verdict)])
    func anInsignificantFailureCountsOnlyWhenTheRequestSaysSo(countInsignificant: Bool?, expected: Verdict) async throws {
        let folder = try TemporaryDirectory()
        try Self.package(in: folder)
        let pipeline = try PipelinePolicyTests.pipeline(in: folder)
        var task = PipelinePolicyTests.task([TaskWork.Package(name: "mixed", location: .host)])
        task.detailLevel = .set
        task.countInsignificant = countInsignificant

        let finish = try await pipeline.run(task)

        #expect(finish.error == nil, "\(finish)")
        #expect(finish.verdict == expected, "the task's verdict")
        let events = try Self.events(pipeline.spool)
        let package = try #require(events.first { $0.type == .packageFinished })
        #expect(package.verdict == expected.rawValue, "the package's verdict")
        let set = try #require(events.first { $0.type == .setFinished })
        #expect(set.verdict == expected.rawValue, "the set's verdict")
        let failures = events.filter { $0.type == .failure && $0.testCase == "flaky" }
        #expect(failures.count == (expected == .fail ? 1 : 0), "a failure event only when the failure counts: \(failures)")
    }

    @Test func underTheOriginalsRulesAnInsignificantFailureCounts() async throws {
        let folder = try TemporaryDirectory()
        try Self.package(in: folder)
        let pipeline = try PipelinePolicyTests.pipeline(in: folder)
        var task = PipelinePolicyTests.task([TaskWork.Package(name: "mixed", location: .host)])
        task.detailLevel = .set
        task.verdictMode = .original

        let finish = try await pipeline.run(task)

        #expect(finish.verdict == .fail, "\(finish)")
        let events = try Self.events(pipeline.spool)
        #expect(events.first { $0.type == .packageFinished }?.verdict == "FAIL")
        #expect(events.filter { $0.type == .failure && $0.testCase == "flaky" }.count == 1)
    }

    @Test func aDefinitionSentWithTheRequestRunsAsItsPackage() async throws {
        let folder = try TemporaryDirectory()
        let pipeline = try PipelinePolicyTests.pipeline(in: folder)
        let definition = """
            <?xml version="1.0" encoding="UTF-8"?>
            <testdefinition version="1.0"><suite name="sent"><set name="set">
            <case name="passes"><step>true</step></case>
            </set></suite></testdefinition>
            """
        let task = PipelinePolicyTests.task([TaskWork.Package(name: "sent-plan", location: .host, definition: definition)])

        let finish = try await pipeline.run(task)

        #expect(finish.verdict == .pass, "\(finish)")
        let events = try Self.events(pipeline.spool)
        #expect(events.first { $0.type == .packageFinished }?.package == "sent-plan")
    }
}
