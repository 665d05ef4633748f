import Foundation
import Testing

@testable import OTSCore

/// Who hears a testrun's verdict, told through `testrun.requested`, and
/// the request fields the original OTS brought.
@Suite struct MailRequestTests {
    static var asked: TestrunRequest {
        var request = TestrunRequest(device: DeviceProperties(devicegroup: "lab"), packages: .init(device: ["a"]))
        request.notify = ["qa@lab.test", "dev@lab.test"]
        request.swProduct = "prod"
        request.requestID = "42"
        request.emailAttachments = true
        request.image = "http://img/x"
        return request
    }

    @Test func whatTheRequestAsksTravelsInTheEventsDetails() throws {
        let mail = try #require(MailRequest(Self.asked, notes: ["option emmc is ignored"]))
        #expect(mail.recipients == ["qa@lab.test", "dev@lab.test"])
        #expect(mail.summary.contains("image: http://img/x"))
        #expect(mail.summary.contains("note: option emmc is ignored"))
        #expect(MailRequest(details: mail.details) == mail)
    }

    @Test func noMailWithoutRecipientsOrWithEmailOff() {
        var request = Self.asked
        request.email = false
        #expect(MailRequest(request) == nil)
        request.email = nil
        request.notify = []
        #expect(MailRequest(request) == nil)
        #expect(MailRequest(details: ["model": "single"]) == nil)
    }

    @Test(arguments: [
        (["qa@lab"], nil as String?),
        (["qa"], "notify[0]: 'qa' is not an e-mail address"),
        (["a@b\r\nRCPT TO:<x@y>"], "notify[0]"),
        (["<a@b>"], "notify[0]"),
        (["a b@c"], "notify[0]"),
    ])
    func notifyHoldsAddressesOnly(notify: [String], problem: String?) {
        var request = Self.asked
        request.notify = notify
        let problems = request.problems(models: ["single"]).map(\.description)
        if let problem {
            #expect(problems.contains { $0.hasPrefix(problem) }, "\(problems)")
        } else {
            #expect(problems.isEmpty, "\(problems)")
        }
    }

    @Test func inlineDefinitionsAreNamedLikePackagesAndNotDuplicates() {
        var request = Self.asked
        request.inlineDefinitions = [
            InlineDefinition(name: "a", location: .device, xml: "<testdefinition/>"),
            InlineDefinition(name: "../x", location: .host, xml: ""),
            InlineDefinition(name: "u", location: .url, xml: "<x/>"),
        ]
        let problems = request.problems(models: ["single"]).map(\.description)
        #expect(problems.contains("inline_definitions[0].name: package 'a' is listed twice"), "\(problems)")
        #expect(problems.contains { $0.hasPrefix("inline_definitions[1].name:") })
        #expect(problems.contains("inline_definitions[1].xml: the test definition is empty"))
        #expect(problems.contains("inline_definitions[2].location: must be device or host"))
        #expect(PackageRequest.all(in: request).last == PackageRequest(name: "u", location: .url, definition: "<x/>"))
    }

    @Test func requestIDIsShortAndPrintable() {
        var request = Self.asked
        request.requestID = String(repeating: "x", count: 201)
        #expect(request.problems(models: ["single"]).map(\.field) == ["request_id"])
        request.requestID = "a\u{7}b"
        #expect(request.problems(models: ["single"]).map(\.field) == ["request_id"])
    }
}
