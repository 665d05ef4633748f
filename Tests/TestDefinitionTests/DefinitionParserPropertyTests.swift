import Foundation
import PropertyBased
import Testing

@testable import TestDefinition

/// The definition parser on inputs nobody wrote by hand: valid definitions
/// built at random, and valid ones broken in every way a file gets broken.
/// Whatever comes in, the parser returns a model or its own errors naming
/// the file and line; it never crashes. See `FuzzBudget` for how many cases
/// run.
@Suite struct DefinitionParserPropertyTests {
    /// A document to break, and how it was broken.
    struct Case: Sendable, CustomStringConvertible {
        var base: String
        var root: FuzzNode
        var mutations: [XMLMutation]

        var bytes: [UInt8] { XMLMutation.apply(mutations, to: root, prolog: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n") }
        var description: String { "\(base) with \(mutations.map(\.description).joined(separator: "; "))" }
    }

    static let fixtures: [(String, FuzzNode)] = ["full.xml", "latin1.xml", "schema-errors.xml", "semantic-errors.xml"].map { name in
        let data = FileManager.default.contents(atPath: fixture(name))!
        return (name, FuzzNode(try! XMLTreeReader.read(data, file: name)))
    }

    static let brokenFixture = Dice.generator { dice -> Case in
        let (name, root) = dice.one(of: fixtures)
        return Case(base: name, root: root, mutations: dice.draw(XMLMutation.some))
    }

    static let brokenGenerated = Dice.generator { dice -> Case in
        let generated = dice.draw(GeneratedDefinition.generator)
        return Case(base: "a generated definition", root: generated.root, mutations: dice.draw(XMLMutation.some))
    }

    @Test func aGeneratedDefinitionReadsBackAsWritten() {
        fuzz("generated definition", GeneratedDefinition.generator) { generated in
            let bytes = Array(generated.xml.utf8)
            let definition: TestDefinition
            do {
                definition = try DefinitionParser().parse(Data(bytes), file: "generated.xml")
            } catch {
                throw PropertyFailure(description: "a valid definition is rejected: \(error)")
            }
            try ParseOutcome.checkModel(definition, file: "generated.xml", bytes: bytes)
            let read = GeneratedDefinition.summary(definition)
            try require(read == generated.expected, "read \(read)\nwritten \(generated.expected)")
            try ParseOutcome.checkDefinition(bytes)
        }
    }

    @Test func aBrokenFixtureGetsAModelOrClearErrors() {
        fuzz("broken fixture", Self.brokenFixture) { input in
            try ParseOutcome.checkDefinition(input.bytes)
        }
    }

    @Test func aBrokenGeneratedDefinitionGetsAModelOrClearErrors() {
        fuzz("broken generated definition", Self.brokenGenerated) { input in
            try ParseOutcome.checkDefinition(input.bytes)
        }
    }

    @Test func anyTruncationOfTheFullFixtureGetsAModelOrClearErrors() throws {
        // Every byte, not a sample: the fixture is small.
        let bytes = [UInt8](try #require(FileManager.default.contents(atPath: fixture("full.xml"))))
        for length in 0..<bytes.count {
            do {
                try ParseOutcome.checkDefinition(Array(bytes.prefix(length)))
            } catch {
                Issue.record("full.xml cut after \(length) bytes: \(error)")
                return
            }
        }
    }

    @Test func randomBytesGetClearErrors() {
        let noise = Gen<UInt8>.value(in: 0...255).array(of: 0...512)
        fuzz("random bytes", noise) { bytes in
            try ParseOutcome.checkDefinition(bytes)
        }
    }
}
