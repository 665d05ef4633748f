import Foundation
import Testing

@testable import OTSServer

/// XML-RPC calls read as Python's xmlrpc.client writes them, and every
/// broken call a fault that says what is wrong, never a crash.
@Suite struct XMLRPCCodecTests {
    /// A call as Python's xmlrpc.client writes `request_sync("p", "b1", ["a@b.c"], {...})`.
    static let pythonCall = """
        <?xml version='1.0'?>
        <methodCall>
        <methodName>request_sync</methodName>
        <params>
        <param>
        <value><string>prod &amp; co</string></value>
        </param>
        <param>
        <value><string>b1</string></value>
        </param>
        <param>
        <value><array><data>
        <value><string>a@b.c</string></value>
        </data></array></value>
        </param>
        <param>
        <value><struct>
        <member>
        <name>image</name>
        <value><string>http://img/x.bin</string></value>
        </member>
        <member>
        <name>timeout</name>
        <value><int>30</int></value>
        </member>
        <member>
        <name>flag</name>
        <value><boolean>1</boolean></value>
        </member>
        <member>
        <name>bare</name>
        <value>untyped text</value>
        </member>
        <member>
        <name>none</name>
        <value><nil/></value>
        </member>
        </struct></value>
        </param>
        </params>
        </methodCall>
        """

    @Test func aPythonCallReads() throws {
        let call = try XMLRPCCodec.call(from: Data(Self.pythonCall.utf8))
        #expect(call.method == "request_sync")
        #expect(
            call.parameters == [
                .string("prod & co"), .string("b1"), .array([.string("a@b.c")]),
                .structure([
                    "image": .string("http://img/x.bin"), "timeout": .int(30), "flag": .bool(true), "bare": .string("untyped text"),
                    "none": .null,
                ]),
            ])
    }

    @Test(arguments: [
        ("not xml at all", XMLRPCFault.parseError, "not XML"),
        ("<methodResponse/>", XMLRPCFault.invalidRequest, "not an XML-RPC <methodCall>"),
        ("<methodCall></methodCall>", XMLRPCFault.invalidRequest, "one <methodName>"),
        ("<methodCall><methodName> </methodName></methodCall>", XMLRPCFault.invalidRequest, "empty"),
        (
            "<methodCall><methodName>m</methodName><params><param><value><int>x</int></value></param></params></methodCall>",
            XMLRPCFault.invalidRequest, "not an integer"
        ),
        (
            "<methodCall><methodName>m</methodName><params><param><value><boolean>2</boolean></value></param></params></methodCall>",
            XMLRPCFault.invalidRequest, "0 or 1"
        ),
        (
            "<methodCall><methodName>m</methodName><params><param><value><double>nan</double></value></param></params></methodCall>",
            XMLRPCFault.invalidRequest, "not a number"
        ),
        (
            "<methodCall><methodName>m</methodName><params><param><value><blob/></value></param></params></methodCall>",
            XMLRPCFault.invalidRequest, "<blob> is not an XML-RPC type"
        ),
        ("<methodCall><methodName>m</methodName><params><param/></params></methodCall>", XMLRPCFault.invalidRequest, "one <value>"),
        ("<methodCall><methodName>m</methodName><extra/></methodCall>", XMLRPCFault.invalidRequest, "<extra> does not belong"),
        (
            """
            <methodCall><methodName>m</methodName><params><param><value><struct>
            <member><name>a</name><value>1</value></member><member><name>a</name><value>2</value></member>
            </struct></value></param></params></methodCall>
            """, XMLRPCFault.invalidRequest, "member 'a' is given twice"
        ),
        (
            "<methodCall><methodName>m</methodName><params><param><value><string><b/></string></value></param></params></methodCall>",
            XMLRPCFault.invalidRequest, "<string> holds text"
        ),
        (
            "<!DOCTYPE m [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><methodCall><methodName>&e;</methodName></methodCall>",
            XMLRPCFault.parseError, "not XML"
        ),
    ])
    func aBrokenCallIsAFaultThatSaysWhat(text: String, code: Int, words: String) {
        #expect {
            _ = try XMLRPCCodec.call(from: Data(text.utf8))
        } throws: { error in
            guard let fault = error as? XMLRPCFault else { return false }
            return fault.code == code && fault.message.contains(words)
        }
    }

    /// Every prefix of a real call, and each byte of it replaced, reads or
    /// is a fault: nothing crashes.
    @Test func everyTruncationAndCorruptionIsACallOrAFault() {
        let bytes = Array(Self.pythonCall.utf8)
        var faults = 0
        for end in 0..<bytes.count {
            do { _ = try XMLRPCCodec.call(from: Data(bytes[0..<end])) } catch { faults += 1 }
        }
        #expect(faults == bytes.count, "no prefix of the call is a whole call")
        for index in stride(from: 0, to: bytes.count, by: 7) {
            for replacement: UInt8 in [0x00, 0x3C, 0xFF] {
                var broken = bytes
                broken[index] = replacement
                _ = try? XMLRPCCodec.call(from: Data(broken))
            }
        }
    }

    @Test func answersAndFaultsAreWrittenAsXMLRPC() throws {
        let answer = XMLRPCCodec.response(.array([.string("a<b"), .int(3), .bool(false), .structure(["k": .null])]))
        #expect(answer.contains("<methodResponse>"))
        #expect(answer.contains("<string>a&lt;b</string>"))
        #expect(answer.contains("<int>3</int>"))
        #expect(answer.contains("<boolean>0</boolean>"))
        #expect(answer.contains("<nil/>"))
        let fault = XMLRPCCodec.response(XMLRPCFault(401, "no token"))
        #expect(fault.contains("<fault>"))
        #expect(fault.contains("<name>faultCode</name>"))
        #expect(fault.contains("<int>401</int>"))
        #expect(fault.contains("<string>no token</string>"))
        // What the server writes, its own reader reads back.
        let wrapped = answer.replacingOccurrences(of: "methodResponse", with: "methodCall")
            .replacingOccurrences(of: "<methodCall>", with: "<methodCall><methodName>echo</methodName>")
        let read = try XMLRPCCodec.call(from: Data(wrapped.utf8))
        #expect(read.parameters == [.array([.string("a<b"), .int(3), .bool(false), .structure(["k": .null])])])
    }
}
