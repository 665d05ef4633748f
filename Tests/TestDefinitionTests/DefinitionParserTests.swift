import Foundation
import Testing

@testable import TestDefinition

@Suite struct DefinitionParserTests {
    @Test func readsEveryElementAndAttributeOfTheSchema() throws {
        let definition = try DefinitionParser().parse(contentsOf: fixture("full.xml"))
        #expect(definition.version == "1.0")
        #expect(definition.hwiddetect == "echo board-a")
        #expect(definition.description == "Every element and attribute of the syntax schema")
        #expect(definition.suites.map(\.name) == ["suite-one", "suite-two"])

        let suite = definition.suites[0]
        #expect(
            suite.attributes
                == GeneralAttributes(
                    name: "suite-one", description: "first suite", requirement: "REQ-1", timeout: 120,
                    type: "Functional positive", level: "Component", domain: "Connectivity", feature: "wifi",
                    component: "net", manual: false, insignificant: false, hwid: "board-a"
                )
        )
        #expect(suite.descriptionText == "Suite description")

        let set = suite.sets[0]
        #expect(set.name == "set-one")
        #expect(set.attributes.timeout == 30)
        #expect(set.attributes.insignificant == true)
        #expect(set.descriptionText == "Set description")
        #expect(set.preSteps?.timeout == 10)
        #expect(set.preSteps?.steps.map(\.command) == ["echo pre"])
        #expect(set.postSteps?.timeout == 7)
        #expect(set.postRebootSteps?.steps.map(\.command) == ["echo after reboot"])
        #expect(set.environments == ["scratchbox": false, "hardware": true])
        #expect(set.runs(in: "hardware"))
        #expect(!set.runs(in: "scratchbox"))
        #expect(
            set.get == [
                FetchFile(path: "/tmp/set-log.txt"), FetchFile(path: "/tmp/set-series.txt", series: true),
            ]
        )

        let first = set.cases[0]
        #expect(first.name == "case-one")
        #expect(first.attributes.timeout == 5)
        #expect(first.subfeature == "passive")
        #expect(first.bugzillaID == 1234)
        #expect(first.tcID == "TC-1")
        #expect(first.state == "Ready")
        #expect(first.descriptionText == "Case description")
        #expect(first.steps.map(\.command) == ["echo \"hello\" && true", "exit 3"])
        #expect(first.steps.map(\.expectedResult) == [0, 3])
        #expect(first.steps[1].control == "none")
        #expect(first.steps[1].manual == false)
        guard case .event(let event) = first.items[2] else {
            Issue.record("the third item of case-one is its event")
            return
        }
        #expect(event.kind == .send)
        #expect(event.resource == "ready")
        #expect(event.timeout == 5)
        #expect(
            event.params == [EventParam(type: .string, name: "who", value: "me"), EventParam(type: .number, name: "count", value: "2")])
        #expect(first.get == [FetchFile(path: "/tmp/case-measure.txt", deleteAfter: true, measurement: true)])

        let second = set.cases[1]
        #expect(second.attributes.manual == true)
        #expect(second.steps[0].manual == true)
        #expect(second.attributes.timeout == nil)
    }

    @Test func positionsPointAtTheElements() throws {
        let definition = try DefinitionParser().parse(contentsOf: fixture("full.xml"))
        let set = definition.suites[0].sets[0]
        #expect(set.location.line == 8)
        #expect(set.location.column == 5)
        #expect(set.cases[0].location.line == 13)
        #expect(set.location.file.hasSuffix("full.xml"))
    }

    @Test func decodesISO88591AndEntities() throws {
        let definition = try DefinitionParser().parse(contentsOf: fixture("latin1.xml"))
        let suite = definition.suites[0]
        #expect(suite.name == "säänt\u{f6}")
        #expect(suite.sets[0].name == "café")
        let testCase = suite.sets[0].cases[0]
        #expect(testCase.name == "résumé")
        #expect(testCase.attributes.description == "<é>")
        #expect(testCase.steps[0].command == "echo été")
    }

    @Test func malformedXMLIsOneErrorWithItsLine() throws {
        let errors = try #require(throws: DefinitionErrors.self) {
            try DefinitionParser().parse(contentsOf: fixture("malformed.xml"))
        }
        #expect(errors.errors.count == 1)
        let error = errors.errors[0]
        #expect(error.code == .malformed)
        #expect(error.location.line == 6)
        #expect(error.description.hasPrefix(fixture("malformed.xml") + ":6:"))
        #expect(errors.isSyntactic)
    }

    @Test func schemaErrorsAreAllReportedWithTheirPlaces() throws {
        let errors = try #require(throws: DefinitionErrors.self) {
            try DefinitionParser().parse(contentsOf: fixture("schema-errors.xml"))
        }
        let lines = errors.errors.map { "\($0.location.line): \($0.message)" }
        #expect(
            Set(lines) == [
                "2: <testdefinition> is missing the required attribute 'version'",
                "3: unknown attribute 'colour' on <suite>",
                "3: attribute 'timeout' of <suite> must be a positive integer, not 'soon'",
                "5: attribute 'manual' of <case> must be true or false, not 'maybe'",
                "5: attribute 'expected_result' of <step> must be an integer from 0 to 65535, not '70000'",
                "6: duplicate case name 'c' in this set (first at line 5)",
                "7: unknown element <unknown> in <set>",
                "8: <pre_steps> needs at least one <step>",
                "10: duplicate set name 't' in this suite (first at line 4)",
            ]
        )
        #expect(errors.errors.allSatisfy { $0.code == .schema })
    }

    @Test func anOTSInstructionKeepsThePackageWhole() throws {
        // <?ots keep-whole="true"?>: the schema has no attribute for it; an
        // instruction keeps the file valid (xmllint against both schemas).
        let definition = try DefinitionParser().parse(contentsOf: fixture("keep-whole.xml"))
        #expect(definition.keepWhole)
        #expect(definition.suites[0].sets.map(\.name) == ["prepare", "use"])
        #expect(try DefinitionParser().parse(contentsOf: fixture("full.xml")).keepWhole == false)

        func parse(_ instruction: String) throws(DefinitionErrors) -> TestDefinition {
            let xml = """
                <?xml version="1.0"?>
                <testdefinition version="1">
                  \(instruction)
                  <suite name="s"><set name="t"><case name="c"><step>true</step></case></set></suite>
                </testdefinition>
                """
            return try DefinitionParser().parse(Data(xml.utf8), file: "tests.xml")
        }
        #expect(try parse("<?ots keep-whole='true'?>").keepWhole)
        #expect(try parse("<?ots keep-whole=\"false\"?>").keepWhole == false)
        #expect(try parse("<?other keep-whole=\"true\"?>").keepWhole == false, "other programs' instructions are theirs")
        for (instruction, message) in [
            ("<?ots keep-whole=\"yes\"?>", "<?ots keep-whole?> must be \"true\" or \"false\", not 'yes'"),
            ("<?ots colour=\"red\"?>", "<?ots?>: unknown setting 'colour' (known: keep-whole)"),
            ("<?ots keep-whole?>", "<?ots keep-whole?>: write settings as name=\"value\", like <?ots keep-whole=\"true\"?>"),
        ] {
            let errors = try #require(throws: DefinitionErrors.self) { try parse(instruction) }
            #expect(errors.errors.map(\.message) == [message])
            #expect(errors.errors.first?.location.file == "tests.xml")
            #expect(errors.errors.first?.location.line == 3)
            #expect(errors.errors.first?.code == .schema)
        }
    }

    @Test func semanticModeChecksVocabulariesAndValues() throws {
        // The file follows the syntax schema...
        _ = try DefinitionParser().parse(contentsOf: fixture("semantic-errors.xml"))
        // ...but not the semantic rules.
        let errors = try #require(throws: DefinitionErrors.self) {
            try DefinitionParser(semantic: true).parse(contentsOf: fixture("semantic-errors.xml"))
        }
        #expect(!errors.isSyntactic)
        let messages = errors.errors.map(\.message)
        #expect(messages.contains { $0.hasPrefix("type 'Smoke' of suite 's' is not one of") })
        #expect(messages.contains { $0.hasPrefix("level 'Unit' of set 't' is not one of") })
        #expect(messages.contains("a case needs a non-empty name"))
        #expect(messages.contains { $0.hasPrefix("state 'Draft' of case '' is not one of") })
        #expect(messages.contains("timeout 100000 s of case '' is longer than one day (86400 s)"))
        #expect(messages.contains("a step needs a command"))
        #expect(messages.contains { $0.hasPrefix("control 'halt' of a step is not one of") })
        #expect(errors.errors.count == 7)
    }

    @Test func wrongRootElementIsASchemaError() throws {
        let errors = try #require(throws: DefinitionErrors.self) {
            try DefinitionParser().parse(contentsOf: fixture("unknown-root.xml"))
        }
        #expect(errors.errors.map(\.message) == ["the root element is <tests>, expected <testdefinition>"])
    }

    @Test func missingFileIsUnreadable() throws {
        let errors = try #require(throws: DefinitionErrors.self) {
            try DefinitionParser().parse(contentsOf: "/nonexistent/tests.xml")
        }
        #expect(errors.errors.map(\.code) == [.unreadable])
        #expect(errors.description == "/nonexistent/tests.xml:0:0: cannot read the file: no such file")
    }

    @Test(arguments: [
        ("<testdefinition version='1'/>", "<testdefinition> needs at least one <suite>"),
        (
            "<testdefinition version='1'><suite name='s'/><hwiddetect>x</hwiddetect></testdefinition>",
            "<hwiddetect> must come before <suite> in <testdefinition>"
        ),
        (
            "<testdefinition version='1'><suite name='s'><set name='t'>text</set></suite></testdefinition>",
            "<set> may not hold text"
        ),
        (
            "<testdefinition version='1'><suite name='s'><set name='t'><case name='c'><step>a<b/></step></case></set></suite></testdefinition>",
            "<step> holds text only, not <b>"
        ),
        (
            "<testdefinition version='1'><suite name='s'><set name='t'><get/></set></suite></testdefinition>",
            "<get> needs at least one <file>"
        ),
        (
            "<testdefinition version='1'><suite name='s'><set name='t'><case name='c'><event resource='r'/></case></set></suite></testdefinition>",
            "<event> is missing the required attribute 'type'"
        ),
        (
            "<testdefinition version='1'><suite name='s'><set name='t'><case name='c'><event type='shout' resource='r'/></case></set></suite></testdefinition>",
            "attribute 'type' of <event> must be one of 'send', 'wait', not 'shout'"
        ),
        (
            "<testdefinition version='1'><suite name='s'/><suite name='s'/></testdefinition>",
            "duplicate suite name 's' in this test definition (first at line 1)"
        ),
        (
            "<testdefinition version='1'><suite name='s'><set name='t'><case name='c' bugzilla_id='0'/></set></suite></testdefinition>",
            "attribute 'bugzilla_id' of <case> must be a positive integer, not '0'"
        ),
    ])
    func schemaRule(xml: String, message: String) throws {
        let errors = try #require(throws: DefinitionErrors.self) {
            try DefinitionParser().parse(Data(xml.utf8), file: "inline.xml")
        }
        #expect(errors.errors.map(\.message) == [message])
    }

    @Test func emptyInputIsMalformed() throws {
        let errors = try #require(throws: DefinitionErrors.self) {
            try DefinitionParser().parse(Data(), file: "empty.xml")
        }
        #expect(errors.errors.map(\.code) == [.malformed])
    }
}
