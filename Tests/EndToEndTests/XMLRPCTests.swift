import Foundation
import OTSClient
import OTSCore
import OTSTestSupport
import Subprocess
import SystemPackage
import Testing

/// The original OTS's XML-RPC interface, called by a client nobody here
/// wrote: Python's own `xmlrpc.client`, the way `ots_trigger` called it (a
/// device string, comma-separated packages, minutes, every `-x` option a
/// string), against a real `ots server` with simulated workers.
@Suite(.timeLimit(.minutes(5))) struct XMLRPCTests {
    /// What the Python client printed.
    struct Answer: Decodable {
        var result: JSONValue?
        var fault: Int?
        var message: String?
        var timeout: Bool?
        var protocol_error: Int?
    }

    enum JSONValue: Decodable, Equatable {
        case string(String)
        case list([JSONValue])
        case other

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let text = try? container.decode(String.self) {
                self = .string(text)
            } else if let items = try? container.decode([JSONValue].self) {
                self = .list(items)
            } else {
                self = .other
            }
        }

        var text: String? { if case .string(let text) = self { text } else { nil } }
        var items: [JSONValue] { if case .list(let items) = self { items } else { [] } }
    }

    /// Calls `method` with Python's xmlrpc.client; `timeout` makes the
    /// client give up (and close its connection) after that many seconds.
    static func call(_ url: String, _ method: String, _ parameters: [Any], timeout: Double? = nil) async throws -> Answer {
        let json = String(decoding: try JSONSerialization.data(withJSONObject: parameters), as: UTF8.self)
        let script = OTSBinary.repositoryRoot + "/Tests/EndToEndTests/Fixtures/xmlrpc-call.py"
        let result = try await Subprocess.run(
            .name("python3"), arguments: Arguments([script, url, method, json] + (timeout.map { [String($0)] } ?? [])),
            output: .string(limit: 16 * 1024 * 1024), error: .string(limit: 1024 * 1024))
        let line = result.standardOutput.split(separator: "\n").last.map(String.init) ?? ""
        guard let answer = try? JSONDecoder().decode(Answer.self, from: Data(line.utf8)) else {
            throw TestFarm.FarmError("the XML-RPC client printed '\(result.standardOutput)' (\(result.standardError.suffix(2000)))")
        }
        return answer
    }

    /// The server's address as `ots_trigger -s user:TOKEN@host:port` made it.
    static func url(_ farm: TestFarm, token: String? = nil, path: String = "/") -> String {
        "http://" + (token.map { "ci:\($0)@" } ?? "") + "127.0.0.1:\(farm.port)" + path
    }

    /// ots_trigger's options: every value a string but the timeout.
    static func options(_ packages: String, group: String = "e2e", extra: [String: Any] = [:]) -> [String: Any] {
        ["image": "file:///dev/null", "packages": packages, "device": "devicegroup:\(group)", "timeout": 30].merging(extra) { $1 }
    }

    @Test func requestSyncAnswersAsTheOriginalDid() async throws {
        let workers = [
            TestFarm.WorkerSpec(name: "w1"), TestFarm.WorkerSpec(name: "w2"),
            TestFarm.WorkerSpec(name: "slow", devicegroup: "slow", simulated: "flash_seconds = 3\nboot_seconds = 0.05"),
        ]
        try await TestFarm.with(engine: .sqlite, workers: workers) { farm in
            let url = Self.url(farm, token: farm.token)
            let definition = try String(
                contentsOfFile: OTSBinary.repositoryRoot + "/Tests/EndToEndTests/Fixtures/packages/shell-basics/tests.xml", encoding: .utf8)
            async let pass = Self.call(
                url, "request_sync",
                [
                    "prod-a", "build-1", ["qa@lab.test"],
                    Self.options(
                        "shell-basics",
                        extra: [
                            "emmc": "yes", "qa_id": "7", "distribution_model": "perpackage",
                            "hw_testplans": [["inline-basics", definition]],
                        ]),
                ])
            async let fail = Self.call(
                url, "request_sync", ["prod-a", "build-2", [] as [String], Self.options("shell-basics failing-case")])
            async let insignificant = Self.call(
                url, "request_sync", ["prod-a", "build-3", [] as [String], Self.options("insignificant-failure")])
            async let error = Self.call(url, "request_sync", ["prod-a", "build-4", [] as [String], Self.options("no-such-package")])
            let answers = try await (pass, fail, insignificant, error)
            #expect(answers.0.result == .string("PASS"), "\(answers.0)")
            #expect(answers.1.result == .string("FAIL"), "\(answers.1)")
            // The original's rules: the insignificant failure counts.
            #expect(answers.2.result == .string("FAIL"), "\(answers.2)")
            #expect(answers.3.result == .string("ERROR"), "\(answers.3)")

            let testruns = try await farm.client.testruns(limit: 10).testruns
            let first = try #require(testruns.first { $0.request.requestID == "build-1" })
            let view = try await farm.client.testrun(id: first.id)
            #expect(view.request.swProduct == "prod-a")
            #expect(view.request.notify == ["qa@lab.test"])
            #expect(view.request.timeout == 1800, "30 minutes")
            #expect(view.request.verdictRules == .original)
            #expect(view.request.distributionModel == "perpackage")
            #expect(view.request.inlineDefinitions?.map(\.name) == ["inline-basics"])
            #expect(view.progress.packagesTotal == 2, "the package and the definition sent with the call")
            let notes = view.plan?.notes ?? []
            #expect(notes.contains { $0.contains("option emmc") && $0.contains("ignored") }, "\(notes)")
            #expect(notes.contains { $0.contains("option qa_id") && $0.contains("ignored") }, "\(notes)")
            let status = try await OTSBinary.run(["status"] + farm.cli + [first.id], in: farm.workspace.path)
            #expect(status.stdout.contains("  build request build-1 of prod-a\n"), "\(status.stdout)")
            #expect(status.stdout.contains("    option emmc of the original OTS is ignored here\n"), "\(status.stdout)")

            // An option the original did not have is a fault that names it.
            let unknown = try await Self.call(
                url, "request_sync", ["prod-a", "build-5", [] as [String], Self.options("shell-basics", extra: ["flavour": "x"])])
            #expect(unknown.fault == -32602, "\(unknown)")
            #expect(unknown.message?.contains("options.flavour") == true, "\(unknown)")

            // Without a token, the fault says how to pass one.
            let anonymous = try await Self.call(
                Self.url(farm), "request_sync", ["prod-a", "build-6", [] as [String], Self.options("shell-basics")])
            #expect(anonymous.fault == 401, "\(anonymous)")
            #expect(anonymous.message?.contains("user:TOKEN@host:port") == true, "\(anonymous)")
            let before = try await farm.client.testruns(limit: 50).testruns.count
            #expect(before == 4, "neither refused call made a testrun")

            // A client that goes away midway changes nothing for its testrun.
            let gone = try await Self.call(
                url, "request_sync", ["prod-b", "build-7", [] as [String], Self.options("shell-basics", group: "slow")], timeout: 1)
            #expect(gone.timeout == true, "\(gone)")
            let left = try #require(try await farm.client.testruns(limit: 10).testruns.first { $0.request.requestID == "build-7" })
            let ended = try await farm.waitForEnd(left.id)
            #expect(ended.verdict == .pass, "\(ended.summaryText)")

            // latest_logs: the farm's lines, on every path of the interface.
            for path in ["/", "/RPC2", "/xmlrpc/"] {
                let logs = try await Self.call(Self.url(farm, token: farm.token, path: path), "latest_logs", [300])
                let lines = logs.result?.items ?? []
                let finished = lines.first { $0.items.first?.text == left.id && ($0.items.last?.text ?? "").hasPrefix("testrun.finished") }
                #expect(finished?.items.count == 5, "(run_id, date, module, levelname, message) on \(path): \(logs)")
                #expect(finished?.items[3].text == "INFO")
            }
            let tooLong = try await Self.call(url, "latest_logs", [3601])
            #expect(tooLong.fault == -32602 && tooLong.message?.contains("3600") == true, "\(tooLong)")

            // A server asked to stop answers a waiting call at once; the testrun is kept.
            async let stopped = Self.call(
                url, "request_sync", ["prod-b", "build-8", [] as [String], Self.options("shell-basics", group: "slow")])
            let waiting = try await eventually("the testrun of build-8") {
                try await farm.client.testruns(limit: 10).testruns.first { $0.request.requestID == "build-8" }
            }
            farm.server.kill(SIGTERM)
            let answer = try await stopped
            #expect(answer.fault == 503 && answer.message?.contains(waiting.id) == true, "\(answer)")
            try await farm.server.waitForExit(timeout: 15)
            #expect(farm.server.process.terminationStatus == 0, "a clean stop: \(farm.server.stderr.suffix(2000))")
        }
    }

    @Test func anonymousSubmitOpensTheInterfaceAndBadCallsAreFaults() async throws {
        try await TestFarm.with(engine: .sqlite, serverSettings: ["anonymous_submit": "true"], workers: [TestFarm.WorkerSpec(name: "w1")]) {
            farm in
            let answer = try await Self.call(
                Self.url(farm), "request_sync", ["prod", "build-1", "qa@lab.test", Self.options("shell-basics")])
            #expect(answer.result == .string("PASS"), "\(answer)")
            let wrong = try await Self.call(Self.url(farm), "request_sync", ["prod", "build-2"])
            #expect(wrong.fault == -32602 && wrong.message?.contains("4 parameters") == true, "\(wrong)")
            let unknown = try await Self.call(Self.url(farm), "request_async", [])
            #expect(unknown.fault == -32601, "\(unknown)")
            let noDevice = try await Self.call(
                Self.url(farm), "request_sync", ["prod", "build-3", [] as [String], ["image": "file:///dev/null", "packages": "a"]])
            #expect(noDevice.fault == -32602 && noDevice.message?.contains("options.device") == true, "\(noDevice)")
            let badPackage = try await Self.call(
                Self.url(farm), "request_sync", ["prod", "build-3", [] as [String], Self.options("../etc")])
            #expect(badPackage.fault == 400 && badPackage.message?.contains("packages[0]") == true, "\(badPackage)")
        }
    }
}
