import Foundation
import PropertyBased
import Testing

@testable import TestDefinition

/// The results parser on results written by ResultsWriter and on those
/// results broken in every way a file gets broken: written results read
/// back the same; anything else reads or gets clear errors, never a crash.
@Suite struct ResultsParserPropertyTests {
    static func checkResults(_ bytes: [UInt8], file: String = "results.xml") throws(PropertyFailure) {
        ParseOutcome.trace(bytes)
        do {
            _ = try ResultsParser().parse(Data(bytes), file: file)
        } catch {
            try ParseOutcome.checkErrors(error, file: file, bytes: bytes)
        }
    }

    @Test func writtenResultsReadBackTheSame() {
        fuzz("results round trip", GeneratedResults.generator) { results in
            let xml = ResultsWriter.xml(results)
            let parsed: TestResults
            do {
                parsed = try ResultsParser().parse(Data(xml.utf8), file: "results.xml")
            } catch {
                throw PropertyFailure(description: "written results do not read back: \(error)\n\(xml.prefix(3000))")
            }
            let written = GeneratedResults.separatingTimes(results)
            let read = GeneratedResults.separatingTimes(parsed)
            try require(read.times == written.times, "times read \(read.times), written \(written.times)")
            try require(read.rest == written.rest, "read back\n\(read.rest)\nwritten\n\(written.rest)\nas\n\(xml.prefix(3000))")
        }
    }

    @Test func outputOfAnyCharactersReadsBackAsXMLCanHoldIt() {
        // Any Unicode scalar a process may print, control characters and
        // noncharacters too.
        let scalars = Gen<UInt32>.value(in: 0...0x10FFFF).compactMap(Unicode.Scalar.init).array(of: 0...64)
        fuzz("any output", scalars) { scalars in
            var output = ""
            output.unicodeScalars.append(contentsOf: scalars)
            var step = StepResult(command: output, result: .pass, returnCode: 0, start: Date(), end: Date(), stdout: output, stderr: "")
            step.failureInfo = output
            let results = TestResults(suites: [
                SuiteResult(
                    attributes: GeneralAttributes(name: "s"),
                    sets: [
                        SetResult(
                            attributes: GeneralAttributes(name: "t"),
                            cases: [CaseResult(attributes: GeneralAttributes(name: "c"), result: .pass, steps: [step])])
                    ])
            ])
            let parsed: TestResults
            do {
                parsed = try ResultsParser().parse(Data(ResultsWriter.xml(results).utf8), file: "results.xml")
            } catch {
                throw PropertyFailure(description: "written results do not read back: \(error)")
            }
            var expected = ""
            expected.unicodeScalars.append(contentsOf: scalars.map { isXMLCharacter($0) ? $0 : "\u{FFFD}" })
            let read = try parsedStep(parsed)
            try require(read.stdout == expected, "stdout read back as \(read.stdout.debugDescription), not \(expected.debugDescription)")
            try require(read.command == expected, "command read back as \(read.command.debugDescription), not \(expected.debugDescription)")
            try require(read.failureInfo == expected, "failure_info read back as \(read.failureInfo.debugDescription)")
        }
    }

    private func parsedStep(_ results: TestResults) throws(PropertyFailure) -> StepResult {
        guard let step = results.allCases.first?.steps.first else {
            throw PropertyFailure(description: "the step is missing from the results read back")
        }
        return step
    }

    @Test func brokenResultsGetAModelOrClearErrors() {
        let broken = Dice.generator { dice -> (String, [XMLMutation]) in
            (ResultsWriter.xml(dice.draw(GeneratedResults.generator)), dice.draw(XMLMutation.some))
        }
        fuzz("broken results", broken, describe: { "\($0.1.map(\.description)) of \($0.0)" }) { xml, mutations in
            let root = FuzzNode(try! XMLTreeReader.read(Data(xml.utf8), file: "results.xml"))
            try Self.checkResults(XMLMutation.apply(mutations, to: root, prolog: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"))
        }
    }

    @Test func randomBytesGetClearErrors() {
        fuzz("random results bytes", Gen<UInt8>.value(in: 0...255).array(of: 0...512)) { bytes in
            try Self.checkResults(bytes)
        }
    }
}
