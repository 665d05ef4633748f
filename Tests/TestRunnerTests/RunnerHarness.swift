import Foundation
import OTSTestSupport
import Synchronization
import TestDefinition
import Testing

@testable import TestRunner

/// Runs inline definitions in a fresh folder and checks every results
/// document against the schema.
struct RunnerHarness {
    let folder: TemporaryDirectory
    var configuration: RunConfiguration

    init() throws {
        folder = try TemporaryDirectory()
        configuration = RunConfiguration(resultsDirectory: folder.file("results"))
        configuration.mode = .automatic
        configuration.collectHardwareInfo = false
        configuration.stepEnvironment = ["WORK": folder.path]
    }

    /// Wraps cases in a suite and a set when the text has no testdefinition.
    func definition(_ xml: String) throws -> TestDefinition {
        let document =
            xml.contains("<testdefinition")
            ? xml
            : "<testdefinition version=\"1.0\"><suite name=\"s\"><set name=\"t\">\(xml)</set></suite></testdefinition>"
        return try DefinitionParser().parse(Data(document.utf8), file: "inline.xml")
    }

    func run(
        _ xml: String,
        judge: ManualJudge? = nil,
        sourceLocation: Testing.SourceLocation = #_sourceLocation
    ) async throws -> TestResults {
        try await report(xml, judge: judge, sourceLocation: sourceLocation).results
    }

    func report(
        _ xml: String,
        judge: ManualJudge? = nil,
        onEvent: @escaping @Sendable (RunEvent) -> Void = { _ in },
        sourceLocation: Testing.SourceLocation = #_sourceLocation
    ) async throws -> RunReport {
        let report = try await Runner(configuration: configuration, manualJudge: judge).run(try definition(xml), onEvent: onEvent)
        try await SchemaCheck.validate(ResultsWriter.xml(report.results), sourceLocation: sourceLocation)
        return report
    }
}

final class EventLog: Sendable {
    private let storage = Mutex<[RunEvent]>([])

    func append(_ event: RunEvent) { storage.withLock { $0.append(event) } }
    var events: [RunEvent] { storage.withLock { $0 } }
}

extension TestResults {
    func `case`(_ name: String) -> CaseResult? {
        allCases.first { $0.name == name }
    }
}
