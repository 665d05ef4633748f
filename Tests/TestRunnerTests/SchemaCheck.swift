import Foundation
import OTSTestSupport
import TestDefinition
import Testing

@testable import TestRunner

/// Checks results XML against testdefinition-results.xsd with xmllint.
///
/// `./scripts/test.sh` installs xmllint and sets OTS_REQUIRE_XMLLINT=1, so
/// there a missing xmllint fails the test; a bare `swift test` without
/// xmllint skips the check and says so.
enum SchemaCheck {
    static var schema: String {
        if let dir = ProcessInfo.processInfo.environment["OTS_FORMATS_DIR"] {
            return dir + "/testdefinition-results.xsd"
        }
        // Tests/TestRunnerTests/SchemaCheck.swift -> repository root.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.path + "/formats/testdefinition-results.xsd"
    }

    static let xmllint: String? = ["/usr/bin/xmllint", "/usr/local/bin/xmllint", "/bin/xmllint"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    static func validate(_ xml: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) async throws {
        guard let xmllint else {
            if ProcessInfo.processInfo.environment["OTS_REQUIRE_XMLLINT"] == "1" {
                Issue.record("xmllint is missing; ./scripts/test.sh installs it (libxml2-utils)", sourceLocation: sourceLocation)
            } else {
                print("note: xmllint not found, results not checked against the schema")
            }
            return
        }
        let file = FileManager.default.temporaryDirectory.path + "/ots-schema-\(UUID().uuidString).xml"
        try xml.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let outcome = try await TestCommand.run([xmllint, "--noout", "--schema", schema, file])
        #expect(
            outcome.termination == .exited(0), "results do not follow the schema: \(outcome.stderr.text)", sourceLocation: sourceLocation)
    }
}
