import AsyncHTTPClient
import Foundation
import NIOCore
import OTSClient
import OTSCore
import OTSTestSupport
import Subprocess
import TestDefinition
import Testing

/// The verdict mailed to a testrun's `notify` list, by the monitor, to a
/// real SMTP server (Python's aiosmtpd, which `./scripts/test.sh` installs)
/// on a loopback port.
@Suite(.timeLimit(.minutes(5)), .enabled(if: SMTPServerAvailable.wanted(), "needs Python's aiosmtpd (./scripts/test.sh installs it)"))
struct MailTests {
    /// A message as Python's e-mail parser read it.
    struct Message: Decodable {
        struct Attachment: Decodable {
            var name: String
            var type: String
            var content: String
        }

        var to: [String]
        var subject: String
        var to_header: String
        var body: String?
        var attachments: [Attachment]
        var tls: Bool
        var user: String?

        var text: String { (body ?? "").replacingOccurrences(of: "\r\n", with: "\n") }
    }

    /// aiosmtpd on a port of its own; stopped and started again at will.
    final class MailServer: @unchecked Sendable {
        // Only the owning test touches it.
        let folder: String
        let port: Int
        /// Certificate, key, user and password: STARTTLS and AUTH required.
        let secure: [String]
        var process: Process?

        init(folder: String, secure: [String] = []) throws {
            self.folder = folder
            self.secure = secure
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            port = try SSHServer.freePort()
        }

        func start() async throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments =
                ["python3", OTSBinary.repositoryRoot + "/Tests/EndToEndTests/Fixtures/smtp-server.py", String(port), folder] + secure
            try process.run()
            self.process = process
            try await eventually("the SMTP server to listen on \(port)", within: .seconds(10), every: .milliseconds(50)) {
                SSHServer.canConnect(port: port)
            }
        }

        /// Kills the server, when it runs (again and again is harmless).
        func stop() {
            if let process {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
            process = nil
        }

        var messages: [Message] {
            ((try? String(contentsOfFile: folder + "/messages.jsonl", encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
                try? JSONDecoder().decode(Message.self, from: Data($0.utf8))
            }
        }

        deinit { stop() }
    }

    static func settings(_ farm: TestFarm, smtp: MailServer, security: String = "security = \"none\"") -> String {
        """
        delivery_attempts = 8
        retry_seconds = 0.2

        [email]
        host = "127.0.0.1"
        port = \(smtp.port)
        \(security)
        from = "OTS <ots@lab.test>"
        dashboard_url = "http://dashboard.lab.test/"
        server_url = "\(farm.baseURL)"
        server_token = "\(farm.token)"
        """
    }

    /// The mail events the monitor stored for a testrun.
    static func mailEvents(_ monitor: String, _ testrunID: String) async throws -> [MonitorEvent] {
        try await OTSClient(baseURL: monitor).events(testrun: testrunID, limit: 10_000).filter { $0.type.rawValue.hasPrefix("mail.") }
    }

    @Test func theNotifyListHearsTheVerdictOnceFromTwoMonitors() async throws {
        try await TestFarm.with(engine: .sqlite, workers: [TestFarm.WorkerSpec(name: "w1")]) { farm in
            let smtp = try MailServer(folder: farm.workspace.file("mail"))
            try await smtp.start()
            let (_, monitor) = try await farm.startMonitor("monitor-1", settings: Self.settings(farm, smtp: smtp))
            _ = try await farm.startMonitor("monitor-2", settings: Self.settings(farm, smtp: smtp))
            try await farm.waitForPublishers(["mail"])

            // Email off: it ends first, so that the mail publisher has
            // gone past its end when the others' mails are sent.
            var quiet = request(device: ["shell-basics"])
            quiet.notify = ["nobody@lab.test"]
            quiet.email = false
            let silent = try await farm.client.submit(quiet)
            _ = try await farm.waitForEnd(silent.id)

            var asked = request(device: ["shell-basics", "failing-case"])
            asked.swProduct = "prod-x"
            asked.requestID = "req-42"
            asked.notify = ["qa@lab.test", "dev@lab.test"]
            asked.emailAttachments = true
            let failing = try await farm.client.submit(asked)
            // An ERROR through the original's interface, its notify_list told.
            let answer = try await XMLRPCTests.call(
                XMLRPCTests.url(farm, token: farm.token), "request_sync",
                ["prod-y", "build-7", ["lead@lab.test"], XMLRPCTests.options("no-such-package")])
            #expect(answer.result == .string("ERROR"), "\(answer)")
            _ = try await farm.waitForEnd(failing.id)

            let messages = try await eventually("two mails", within: .seconds(30), detail: farm.logs) { () -> [Message]? in
                let messages = smtp.messages
                return messages.count >= 2 ? messages : nil
            }
            let mail = try #require(messages.first { $0.subject.contains("Req#req-42") })
            #expect(mail.subject == "[OTS] [FAIL] Req#req-42: prod-x")
            #expect(Set(mail.to) == ["qa@lab.test", "dev@lab.test"])
            let body = mail.text
            #expect(body.contains("Link:      http://dashboard.lab.test/testruns/\(failing.id)"), "\(body)")
            #expect(body.contains("Testrun:   \(failing.id)"))
            #expect(body.range(of: #"shell-basics +PASS"#, options: .regularExpression) != nil, "\(body)")
            #expect(body.range(of: #"failing-case +FAIL"#, options: .regularExpression) != nil, "\(body)")
            #expect(body.contains("failing-case / checks / fails: FAIL"), "\(body)")
            #expect(body.contains("return code: 1 (expected 0)"), "\(body)")
            #expect(body.contains("expected 1, got 2"), "the failing step's output: \(body)")
            #expect(!body.contains("/ passes:"), "only the failing cases")
            let names = mail.attachments.map(\.name)
            #expect(names == ["results-\(failing.id).xml", "junit-\(failing.id).xml"])
            let attached = try #require(mail.attachments.first)
            let served = String(decoding: try await farm.client.results(id: failing.id, format: "xml"), as: UTF8.self)
            #expect(attached.content == served, "the merged results XML as the server serves it")
            let parsed = try ResultsParser().parse(Data(attached.content.utf8), file: "attachment")
            #expect(parsed.allCases.count == 5)

            let error = try #require(messages.first { $0.subject.contains("Req#build-7") })
            #expect(error.subject == "[OTS] [ERROR] Req#build-7: prod-y")
            #expect(error.to == ["lead@lab.test"])
            #expect(error.text.contains("Error (user;"), "the error and its category: \(error.text)")
            #expect(error.text.contains("no-such-package"))
            #expect(error.attachments.isEmpty, "attachments only when asked")

            // Each testrun's mail once, whichever monitor sent it; none for email off.
            let sent = try await eventually("the mail.sent events", within: .seconds(20)) { () -> [MonitorEvent]? in
                let events = try await Self.mailEvents(monitor, failing.id)
                return events.contains { $0.type == .mailSent } ? events : nil
            }
            #expect(sent.map(\.type) == [.mailSent])
            let page = try await HTTPClient.shared.execute(
                HTTPClientRequest(url: monitor + "/testruns/" + failing.id), timeout: .seconds(30))
            let html = String(buffer: try await page.body.collect(upTo: 1 << 22))
            #expect(html.contains(#"data-role="mail">mail sent</span>"#), "the dashboard shows the mail: \(html.prefix(3000))")
            #expect(html.contains(#"data-role="request-id">req-42<"#))
            try await Task.sleep(for: .seconds(1))
            #expect(smtp.messages.count == 2, "one mail a testrun from two monitors: \(smtp.messages.map(\.subject))")
            #expect(try await Self.mailEvents(monitor, silent.id).isEmpty, "email off: no mail")
            #expect(!smtp.messages.flatMap(\.to).contains("nobody@lab.test"))
        }
    }

    /// Over STARTTLS, with the server's certificate checked against a
    /// private authority and a password from a file.
    @Test func aMailServerAwayDuringTheTestrunGetsTheMailOnceItIsBack() async throws {
        try await TestFarm.with(engine: .sqlite, workers: [TestFarm.WorkerSpec(name: "w1")]) { farm in
            try await SecurityTests.makeCertificates(in: farm.workspace)
            let passwordFile = try farm.workspace.write("smtp-password", "s3cret\n")
            let smtp = try MailServer(
                folder: farm.workspace.file("mail"),
                secure: [farm.workspace.file("server.pem"), farm.workspace.file("server.key"), "ots", "s3cret"])
            try await smtp.start()
            let security = """
                security = "starttls"
                ca_file = "\(farm.workspace.file("ca.pem"))"
                user = "ots"
                password_file = "\(passwordFile)"
                """
            let (_, monitor) = try await farm.startMonitor(settings: Self.settings(farm, smtp: smtp, security: security))
            try await farm.waitForPublishers(["mail"])
            smtp.stop()
            var asked = request(device: ["shell-basics"])
            asked.notify = ["qa@lab.test"]
            asked.requestID = "req-1"
            let testrun = try await farm.client.submit(asked)
            _ = try await farm.waitForEnd(testrun.id)
            try await eventually("a failed try while the mail server is away", within: .seconds(20)) {
                try await Self.mailEvents(monitor, testrun.id).contains { $0.type == .mailFailed }
            }
            try await smtp.start()
            var tries: [MonitorEvent] = []
            let events = try await eventually(
                "the mail sent", within: .seconds(30), detail: tries.map { $0.details?["error"] ?? "-" }.joined(separator: "\n")
            ) { () -> [MonitorEvent]? in
                tries = try await Self.mailEvents(monitor, testrun.id)
                return tries.contains { $0.type == .mailSent } ? tries : nil
            }
            #expect(events.last?.type == .mailSent && events.dropLast().allSatisfy { $0.type == .mailFailed }, "\(events.map(\.type))")
            let messages = smtp.messages
            #expect(messages.count == 1, "once")
            #expect(messages.first?.subject == "[OTS] [PASS] Req#req-1: -")
            #expect(messages.first?.tls == true, "sent after STARTTLS")
            #expect(messages.first?.user == "ots", "and AUTH")
            let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: monitor + "/metrics"), timeout: .seconds(30))
            let text = String(buffer: try await response.body.collect(upTo: 1 << 22))
            #expect(text.contains(#"ots_mails_total{outcome="sent"} 1"#), "\(text)")
            #expect(text.contains(#"ots_mails_total{outcome="failed"}"#))
        }
    }
}

/// Whether the SMTP server the mail tests need is here: Python's aiosmtpd,
/// or the test script requires it (OTS_REQUIRE_AIOSMTPD=1; then a missing
/// one fails the tests).
enum SMTPServerAvailable {
    static func wanted() -> Bool {
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        probe.arguments = ["python3", "-c", "import aiosmtpd"]
        probe.standardError = FileHandle.nullDevice
        guard (try? probe.run()) != nil else { return ProcessInfo.processInfo.environment["OTS_REQUIRE_AIOSMTPD"] == "1" }
        probe.waitUntilExit()
        return probe.terminationStatus == 0 || ProcessInfo.processInfo.environment["OTS_REQUIRE_AIOSMTPD"] == "1"
    }
}
