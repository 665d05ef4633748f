import Foundation
import OTSCore
import TestDefinition
import Testing

@testable import OTSMonitor

/// The mail's pieces without a socket: SMTP replies cut from bytes, the
/// message as SMTP carries it, the verdict's words and the retry waits.
@Suite struct SMTPReplyReaderTests {
    @Test func repliesAreCutFromBytesHoweverTheyArrive() throws {
        var reader = SMTPReplyReader()
        let text = "220 mx ESMTP\r\n250-mx greets you\r\n250-STARTTLS\r\n250 AUTH PLAIN LOGIN\r\n354 go on\n"
        var replies: [SMTPReply] = []
        // A byte at a time: replies do not depend on how TCP cuts them.
        for byte in Array(text.utf8) { replies += try reader.read([byte]) }
        #expect(
            replies == [
                SMTPReply(code: 220, lines: ["mx ESMTP"]), SMTPReply(code: 250, lines: ["mx greets you", "STARTTLS", "AUTH PLAIN LOGIN"]),
                SMTPReply(code: 354, lines: ["go on"]),
            ])
        #expect(replies[2].isPositive && !SMTPReply(code: 451, lines: []).isPositive && SMTPReply(code: 451, lines: []).isTransient)
    }

    @Test(arguments: ["HTTP/1.1 400 Bad Request\r\n", "25\r\n", "250-a\r\n251 b\r\n", "250*x\r\n", String(repeating: "2", count: 5000)])
    func whatIsNotSMTPIsAProtocolError(text: String) {
        var reader = SMTPReplyReader()
        #expect(throws: SMTPReplyReader.ProtocolError.self) { _ = try reader.read(Array(text.utf8)) }
    }
}

@Suite struct MailMessageTests {
    @Test func aMessageIsSevenBitWithDotsDoubledAndNoHeaderInjection() throws {
        let message = MailMessage(
            from: "OTS <ots@lab>", to: ["a@lab", "b@lab"], subject: "[OTS] [PASS] Req#1: prodüct\r\nBcc: evil@x", body: ".\nline\n",
            attachments: [.init(name: "r.xml", contentType: "application/xml", content: Array("<x/>".utf8))], messageID: "<t1@ots>",
            date: Date(timeIntervalSince1970: 0))
        let text = message.rendered(boundary: "B")
        #expect(text.contains("\r\nTo: a@lab, b@lab\r\n"))
        #expect(text.contains("Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n"))
        #expect(!text.contains("\r\nBcc:"), "a line break in the subject never makes a header")
        let subject = try #require(text.split(separator: "\r\n").first { $0.hasPrefix("Subject: ") })
        #expect(subject.hasPrefix("Subject: =?utf-8?B?"))
        let encoded = subject.dropFirst("Subject: =?utf-8?B?".count).dropLast(2)
        #expect(String(decoding: Data(base64Encoded: String(encoded))!, as: UTF8.self) == "[OTS] [PASS] Req#1: prodüct  Bcc: evil@x")
        #expect(text.contains("Content-Type: multipart/mixed; boundary=\"B\""))
        #expect(text.contains("Content-Disposition: attachment; filename=\"r.xml\""))
        #expect(text.contains(Data("<x/>".utf8).base64EncodedString()))
        #expect(text.unicodeScalars.allSatisfy { $0.isASCII }, "7-bit on the wire")
        let data = message.dataSection()
        #expect(data.hasSuffix("\r\n.\r\n"))
        #expect(!data.dropLast(5).contains("\r\n.\r\n"), "no line of the message ends the DATA early")
    }

    @Test func waitsBetweenTriesDouble() {
        #expect(MailPublisher.retryWait(afterTries: 1, retrySeconds: 0.5) == 0.5)
        #expect(MailPublisher.retryWait(afterTries: 2, retrySeconds: 0.5) == 1)
        #expect(MailPublisher.retryWait(afterTries: 4, retrySeconds: 0.5) == 4)
    }
}

@Suite struct VerdictMailTests {
    static func end(_ type: EventType, verdict: String? = nil, error: MonitorEvent.Failure? = nil) -> MonitorEvent {
        var event = MonitorEvent(type: type, sender: .this("server"), testrunID: "t1")
        event.verdict = verdict
        event.error = error
        return event
    }

    static let results = """
        <?xml version="1.0" encoding="UTF-8"?>
        <testresults version="1.0" environment="hardware" hwproduct="p" hwbuild="b">
          <suite name="pkg">
            <set name="s">
              <case name="ok" result="PASS"><step command="true" result="PASS"><expected_result>0</expected_result><return_code>0</return_code><start>2024-01-01 00:00:00</start><end>2024-01-01 00:00:01</end><stdout></stdout><stderr></stderr></step></case>
              <case name="bad" result="FAIL"><step command="check it" result="FAIL"><expected_result>0</expected_result><return_code>2</return_code><start>2024-01-01 00:00:00</start><end>2024-01-01 00:00:01</end><stdout>all good so far</stdout><stderr>broken: disk full</stderr></step></case>
            </set>
          </suite>
        </testresults>
        """

    @Test func theOriginalsSubjectAndABodyThatTellsWhatFailed() throws {
        var mail = VerdictMail(
            testrunID: "t1", request: MailRequest(recipients: ["a@lab"], swProduct: "prod", requestID: "77", summary: ["image: http://i"]),
            end: Self.end(.testrunFinished, verdict: "FAIL"), packages: [("pkg", "FAIL"), ("other", "PASS")], results: nil,
            dashboardURL: "https://ots.lab")
        mail.results = try ResultsParser().parse(Data(Self.results.utf8), file: "r")
        #expect(mail.subject == "[OTS] [FAIL] Req#77: prod")
        let body = mail.body
        #expect(body.contains("Link:      https://ots.lab/testruns/t1"))
        #expect(body.contains("  pkg    FAIL\n  other  PASS\n"))
        #expect(body.contains("  pkg / s / bad: FAIL\n    step: check it\n    return code: 2 (expected 0)\n"))
        #expect(body.contains("broken: disk full"))
        #expect(!body.contains("/ ok:"))
        #expect(body.contains("The request\n  image: http://i"))
    }

    @Test func withoutARequestIDTheTestrunNamesIt() {
        let mail = VerdictMail(
            testrunID: "t1", request: MailRequest(recipients: ["a@lab"]),
            end: Self.end(.testrunTimedOut, error: MonitorEvent.Failure(category: .infrastructure, message: "out of time")),
            packages: [], results: nil, dashboardURL: nil, resultsNote: "not told")
        #expect(mail.subject == "[OTS] [ERROR] Req#t1: -")
        #expect(mail.body.contains("The testrun ran out of time."))
        #expect(mail.body.contains("Error (infrastructure; who must act: the OTS administrators): out of time"))
        #expect(mail.body.contains("(none ran)"))
        #expect(!mail.body.contains("Link:"))
    }

    @Test func packagesComeFromTheirLastFinish() {
        func finished(_ package: String, _ verdict: String) -> MonitorEvent {
            var event = MonitorEvent(type: .packageFinished, sender: .this("w"), testrunID: "t1")
            event.package = package
            event.verdict = verdict
            return event
        }
        let packages = VerdictMail.packages(from: [finished("a", "ERROR"), finished("b", "PASS"), finished("a", "PASS")])
        #expect(packages.map(\.name) == ["a", "b"])
        #expect(packages.map(\.verdict) == ["PASS", "PASS"])
    }
}
