import OTSCore
import Testing

@Suite struct ServerSentEventTests {
    @Test func whatTheMonitorWritesReadsBack() {
        let messages = [
            ServerSentEvent(id: "7", event: "task.queued", data: #"{"type":"task.queued"}"#),
            ServerSentEvent(id: "8", event: nil, data: "two\nlines"),
            ServerSentEvent(id: "9", event: "x", data: ""),
        ]
        let text = ServerSentEvent.retry(milliseconds: 1000) + messages.map(\.text).joined() + ServerSentEvent.comment("still here")
        var parser = ServerSentEvent.Parser()
        #expect(parser.feed(Array(text.utf8)) == messages)
        #expect(parser.lastEventID == "9")
        #expect(parser.retryMilliseconds == 1000)
    }

    @Test func piecesMayEndAnywhere() {
        let text = "id: 1\nevent: a\ndata: {\"k\":1}\n\nid: 2\ndata: b\n\n"
        let whole: [ServerSentEvent] = [ServerSentEvent(id: "1", event: "a", data: #"{"k":1}"#), ServerSentEvent(id: "2", data: "b")]
        for size in 1...7 {
            var parser = ServerSentEvent.Parser()
            var got: [ServerSentEvent] = []
            let bytes = Array(text.utf8)
            for start in stride(from: 0, to: bytes.count, by: size) {
                got += parser.feed(bytes[start..<min(bytes.count, start + size)])
            }
            #expect(got == whole, "in pieces of \(size)")
        }
    }

    @Test func crlfAndCREndLinesAndACRLFSplitBetweenPiecesIsOneLineEnd() {
        var parser = ServerSentEvent.Parser()
        #expect(parser.feed(Array("data: a\r\n\r\ndata: b\r\r".utf8)) == [ServerSentEvent(data: "a"), ServerSentEvent(data: "b")])
        #expect(parser.feed(Array("data: c\r".utf8)) == [])
        #expect(parser.feed(Array("\n\r\n".utf8)) == [ServerSentEvent(data: "c")])
    }

    @Test func commentsUnknownFieldsAndMessagesWithoutDataAreSkipped() {
        var parser = ServerSentEvent.Parser(lastEventID: "3")
        let got = parser.feed(Array(": hello\n\nfoo: bar\nid: 4\n\nevent: e\ndata\n\n".utf8))
        #expect(got == [ServerSentEvent(id: "4", event: "e", data: "")], "a bare `data` is an empty line of data")
        #expect(parser.lastEventID == "4", "an id without data still moves the position")
    }

    @Test func theIdStaysUntilReplacedAndABadRetryIsIgnored() {
        var parser = ServerSentEvent.Parser()
        let got = parser.feed(Array("id: 5\ndata: a\n\ndata: b\n\nretry: soon\n\nretry: 250\n\n".utf8))
        #expect(got.map(\.id) == ["5", "5"])
        #expect(parser.retryMilliseconds == 250)
        #expect(parser.feed(Array("retry: -1\n\n".utf8)) == [])
        #expect(parser.retryMilliseconds == 250)
    }

    @Test func onlyTheOneSpaceAfterTheColonIsDropped() {
        var parser = ServerSentEvent.Parser()
        #expect(parser.feed(Array("data:x\n\ndata:  y\n\n".utf8)) == [ServerSentEvent(data: "x"), ServerSentEvent(data: " y")])
    }
}
