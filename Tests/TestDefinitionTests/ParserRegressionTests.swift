import Foundation
import Testing

@testable import TestDefinition

/// Inputs the property tests found that crashed the parsers or got an
/// unclear error, each kept as it was found.
@Suite struct ParserRegressionTests {
    /// The one error of a definition that must be refused.
    private func onlyError(_ bytes: [UInt8], file: String = "found.xml") throws -> DefinitionError {
        let errors = try #require(throws: DefinitionErrors.self) {
            try DefinitionParser().parse(Data(bytes), file: file)
        }
        #expect(errors.errors.count == 1, "\(errors)")
        return try #require(errors.errors.first)
    }

    private func onlyError(_ xml: String) throws -> DefinitionError {
        try onlyError(Array(xml.utf8))
    }

    private static let definition = #"<testdefinition version="1.0"><suite name="s"><set name="t"><case name="c">"#
    private static let end = "</case></set></suite></testdefinition>"

    // Foundation's XMLParser on Linux crashed the process on a name that is
    // not UTF-8 (found as "<tes\xC0tdefinition ..." by a byte flip).
    @Test(arguments: [
        Array("<tes".utf8) + [0xC0] + Array("tdefinition version='1'/>".utf8),
        Array("<testdefinition ver".utf8) + [0xC0] + Array("sion='1'/>".utf8),
        Array("<?xml version=\"1.0\" encoding=\"UTF-16\"?>\n<tes".utf8) + [0xC0] + Array("t/>".utf8),
        Array("<?xml version=\"1.0\"?>\n<testdefinition version='1'>\n  <suite name='".utf8) + [0xFF] + Array("'/></testdefinition>".utf8),
    ])
    func bytesThatAreNotUTF8AreAnErrorWithTheirLine(bytes: [UInt8]) throws {
        let error = try onlyError(bytes)
        #expect(error.code == .malformed)
        #expect(error.message.hasPrefix("malformed XML: a byte that is not UTF-8 (0x"))
        #expect(error.location.line == bytes.filter { $0 == UInt8(ascii: "\n") }.count + 1)
    }

    @Test func aLatin1DocumentIsNotCheckedAsUTF8() throws {
        let bytes =
            Array("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><testdefinition version='1'><suite name='caf".utf8) + [0xE9]
            + Array("'><set name='t'/></suite></testdefinition>".utf8)
        let definition = try DefinitionParser().parse(Data(bytes), file: "latin1.xml")
        #expect(definition.suites.map(\.name) == ["café"])
    }

    // A mangled encoding name ("U\xC3(TF-8") made libxml2 fall back to
    // reading the bytes raw, and crash on a name that was not UTF-8.
    @Test(arguments: ["bogus", "U\u{C3}(TF-8", "EBCDIC-US", "UTF-7"])
    func anEncodingThatIsNotSupportedIsNamed(encoding: String) throws {
        let error = try onlyError("<?xml version=\"1.0\" encoding=\"\(encoding)\"?>\n<testdefinition version='1'/>")
        #expect(error.message == "the encoding '\(encoding)' is not supported: write the file in UTF-8 (or ISO-8859-1)")
        #expect(error.location.line == 1)
    }

    // A processing instruction without data crashed the process (found as
    // "<?pi?>" in the epilog and in a DOCTYPE's internal subset).
    @Test(arguments: [
        ("<?pi?>" + definition + end, 1),
        (definition + "\n<?pi?>" + end, 2),
        (definition + end + "\n\n<?xml-stylesheet?>", 3),
        ("<!DOCTYPE testdefinition [\n<?pi?>]>" + definition + end, 2),
    ])
    func aProcessingInstructionWithoutDataIsRefused(xml: String, line: Int) throws {
        let error = try onlyError(xml)
        #expect(error.message.hasPrefix("a processing instruction without data (<?"))
        #expect(error.location.line == line)
    }

    @Test func markupInCommentsCDATAAndValuesIsText() throws {
        let xml =
            Self.definition
            + #"<step><![CDATA[echo '<?pi?> <!ENTITY x "y">']]></step><!-- <?pi?> <!NOTATION n SYSTEM "x"> --><step>true</step>"#
            + #"<event type="send" resource="r '?>' &lt;!ENTITY"/>"# + Self.end
        let definition = try DefinitionParser().parse(Data(xml.utf8), file: "text.xml")
        let testCase = try #require(definition.allCases.first)
        #expect(testCase.steps.map(\.command) == [#"echo '<?pi?> <!ENTITY x "y">'"#, "true"])
    }

    @Test func aProcessingInstructionWithDataIsIgnored() throws {
        let definition = try DefinitionParser().parse(
            Data(("<?pi data?>" + Self.definition + "<step>true</step>" + Self.end).utf8), file: "pi.xml")
        #expect(definition.allCases.map(\.name) == ["c"])
    }

    // A notation declaration crashed the process; an attribute-list
    // declaration gave steps an expected result nobody wrote.
    @Test(arguments: [
        (#"<!DOCTYPE testdefinition [<!NOTATION n SYSTEM "x">]>"#, "notation declarations are not supported (notation 'n'): remove it"),
        (#"<!DOCTYPE testdefinition [<!NOTATION n PUBLIC "p">]>"#, "notation declarations are not supported (notation 'n'): remove it"),
        (
            #"<!DOCTYPE testdefinition [<!ATTLIST step expected_result CDATA "3">]>"#,
            "attribute-list declarations are not supported (for <step>): write the attributes on the elements"
        ),
        (
            #"<!DOCTYPE testdefinition [<!-- ] > --><!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>"#,
            "entity declarations are not supported (entity 'p'): write the text out in the document"
        ),
    ])
    func aDeclarationThatWouldChangeOrCrashIsRefused(doctype: String, message: String) throws {
        let error = try onlyError(doctype + "\n" + Self.definition + "<step>true</step>" + Self.end)
        #expect(error.message == message)
        #expect(error.location.line == 1)
    }

    // 100,000 nested elements are a few hundred kilobytes, and a tree that
    // deep takes the reader's stack.
    @Test func elementsNestedTooDeepAreRefused() throws {
        let depth = 100_000
        let xml =
            Self.definition + "<step>" + String(repeating: "<x>", count: depth) + String(repeating: "</x>", count: depth) + "</step>"
            + Self.end
        let error = try onlyError(xml)
        #expect(error.message == "elements nest deeper than 256 levels (at <x>)")
        let results = try #require(throws: DefinitionErrors.self) {
            try ResultsParser().parse(
                Data(("<testresults>" + String(repeating: "<step><post_reboot_steps>", count: depth / 2)).utf8), file: "deep.xml")
        }
        #expect(results.errors.map(\.message) == ["elements nest deeper than 256 levels (at <post_reboot_steps>)"])
    }

    // libxml2's errors carry no text on Linux: they read "parser error 76".
    @Test(arguments: [
        ("<testdefinition version='1' version='2'/>", "malformed XML: an attribute given twice on one element"),
        (
            "<testdefinition version='1'><suite name='s'></set></testdefinition>",
            "malformed XML: an end tag that does not match the start tag"
        ),
        (
            "<testdefinition version='1'>&nbsp;</testdefinition>",
            "malformed XML: an undeclared entity (XML knows &amp; &lt; &gt; &quot; &apos; and character references like &#233;)"
        ),
        (
            "<testdefinition version='1'/><testdefinition version='1'/>",
            "malformed XML: content after the end of the root element (a document has one root element)"
        ),
        (
            "<testdefinition version='1\u{1}'/>",
            "malformed XML: a character that XML does not allow (a control character, or bytes that are not UTF-8 in a UTF-8 document)"
        ),
        ("<testdefinition version='1'>\n  <suite name='s'>", "malformed XML: the document ends before <suite> (line 2) is closed"),
        ("  \n ", "the document is empty"),
    ])
    func aMalformedDocumentSaysWhatIsWrong(xml: String, message: String) throws {
        #expect(try onlyError(xml).message == message)
    }

    // A value with a line break broke the one-line `file:line:column:
    // message`; a long value filled the screen.
    @Test func valuesInMessagesStayOnOneShortLine() throws {
        let xml =
            #"<testdefinition version="1"><suite name="s"><set name="t"><case name="a&#10;b"/><case name="a&#10;b" timeout=""#
            + String(repeating: "9x", count: 1000) + #""/></set></suite></testdefinition>"#
        let errors = try #require(throws: DefinitionErrors.self) {
            try DefinitionParser().parse(Data(xml.utf8), file: "values.xml")
        }
        #expect(
            errors.errors.map(\.message).sorted() == [
                "attribute 'timeout' of <case> must be a positive integer, not '" + String(repeating: "9x", count: 50)
                    + "… (2000 characters)'",
                #"duplicate case name 'a\nb' in this set (first at line 1)"#,
            ])
    }
}
