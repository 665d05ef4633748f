import Foundation
import Testing

@testable import TestDefinition

/// Results up to the server's limit (64 MiB) are read, however long one
/// text is: libxml2, given a whole document, stops at 10 MB.
@Suite struct LargeResultsTests {
    static let time = Date(timeIntervalSince1970: 1_700_000_000)

    static func results(stdout: [String]) -> TestResults {
        let steps = stdout.enumerated().map { index, text in
            StepResult(command: "step \(index)", result: .pass, returnCode: 0, start: time, end: time, stdout: text)
        }
        let testCase = CaseResult(attributes: GeneralAttributes(name: "c"), result: .pass, steps: steps)
        let set = SetResult(attributes: GeneralAttributes(name: "t"), cases: [testCase])
        return TestResults(suites: [SuiteResult(attributes: GeneralAttributes(name: "s"), sets: [set])])
    }

    /// 12 MB of lines, some of them not ASCII, some with markup to escape.
    static let longText: String = {
        let line = "output line with <markup> & \"quotes\", é and 漢字\n"
        return String(repeating: line, count: 12_000_000 / line.utf8.count + 1)
    }()

    @Test func aTextLongerThan10MBIsRead() throws {
        let xml = Data(ResultsWriter.xml(Self.results(stdout: [Self.longText])).utf8)
        #expect(xml.count > 12_000_000)
        let parsed = try ResultsParser().parse(xml, file: "results.xml")
        #expect(parsed.allCases.first?.steps.first?.stdout == Self.longText)
    }

    @Test func manyStepsOfOutputBeyond10MBAreRead() throws {
        let output = String(repeating: "0123456789abcdefghijklmnopqrstu\n", count: 2048)
        let results = Self.results(stdout: Array(repeating: output, count: 250))
        let xml = Data(ResultsWriter.xml(results).utf8)
        #expect(xml.count > 16_000_000)
        let steps = try ResultsParser().parse(xml, file: "results.xml").allCases.first?.steps ?? []
        #expect(steps.count == 250)
        #expect(steps.allSatisfy { $0.stdout == output })
    }

    @Test func aCDATASectionLongerThan10MBIsReadWhole() throws {
        // "]]" inside, and multi-byte characters wherever the section is cut.
        let text = String(repeating: "é]]x漢", count: 11_000_000 / 9 + 1)
        let written = ResultsWriter.xml(Self.results(stdout: ["PLACEHOLDER"]))
        let xml = Data(written.replacingOccurrences(of: "PLACEHOLDER", with: "<![CDATA[" + text + "]]>").utf8)
        let parsed = try ResultsParser().parse(xml, file: "results.xml")
        #expect(parsed.allCases.first?.steps.first?.stdout == text)
    }

    @Test func whatIsRefusedInASmallDocumentIsRefusedInALargeOne() throws {
        let written = ResultsWriter.xml(Self.results(stdout: ["&big;", Self.longText]))
        let xml = written.replacingOccurrences(
            of: "<testresults", with: "<!DOCTYPE testresults [<!ENTITY big \"a lot\">]>\n<testresults")
        let errors = try #require(throws: DefinitionErrors.self) { try ResultsParser().parse(Data(xml.utf8), file: "results.xml") }
        #expect(errors.description.contains("entity declarations are not supported"), "\(errors)")
    }

    @Test func anAttributeLongerThan10MBIsAClearError() throws {
        let xml =
            #"<testresults version="1.0" environment=""# + String(repeating: "e", count: 11_000_000)
            + #"" hwproduct="p" hwbuild="b"/>"#
        let errors = try #require(throws: DefinitionErrors.self) { try ResultsParser().parse(Data(xml.utf8), file: "results.xml") }
        #expect(errors.description.contains("longer than 10 MB"), "\(errors)")
    }
}
