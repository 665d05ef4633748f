import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OTSClient
import OTSCore
import Testing

/// Real answers of a real monitor, every operation, checked against the
/// OpenAPI document it ships.
@Suite(.timeLimit(.minutes(10))) struct MonitorContractTests {
    static let spec = OTSBinary.repositoryRoot + "/Sources/OTSMonitor/openapi.json"

    @Test func everyMonitorOperationAnswersAsItsDocumentSays() async throws {
        try await TestFarm.with(engine: .sqlite, workers: [TestFarm.WorkerSpec(name: "w1")]) { farm in
            let (_, url) = try await farm.startMonitor()
            let submitted = try await farm.client.submit(request(device: ["shell-basics", "missing-package"]))
            _ = try await farm.waitForEnd(submitted.id)
            _ = try await farm.monitoredEvents(url, testrunID: submitted.id)

            let api = OpenAPIContractTests.Recorder(baseURL: url)
            let served = try await api.call(.GET, "/api/v1/openapi.json")
            #expect(served.body == FileManager.default.contents(atPath: Self.spec), "the monitor serves the document in the repository")
            try await api.call(.GET, "/api/v1/health")
            #expect(try await api.call(.GET, "/api/v1/events", query: "testrun=\(submitted.id)&limit=100").status == 200)
            #expect(try await api.call(.GET, "/api/v1/events", query: "since=yesterday").status == 400)
            #expect(try await api.call(.GET, "/api/v1/events", query: "limit=0").status == 400)
            try await api.call(.GET, "/api/v1/workers")
            #expect(try await api.call(.GET, "/api/v1/testruns/\(submitted.id)/timeline").status == 200)
            #expect(try await api.call(.GET, "/api/v1/testruns/no-such-testrun/timeline").status == 404)
            #expect(try await api.call(.GET, "/api/v1/stats", query: "window=1h").status == 200)
            try await api.call(.GET, "/api/v1/stats", query: "window=1h&devicegroup=e2e&worker=e2e/w1")
            #expect(try await api.call(.GET, "/api/v1/stats", query: "window=soon").status == 400)
            #expect(try await api.call(.GET, "/api/v1/errors", query: "window=1h&limit=5").status == 200)
            #expect(try await api.call(.GET, "/api/v1/errors", query: "limit=0").status == 400)
            try await api.call(.GET, "/api/v1/monitor")
            // Case results, a case with its steps, causes, history, flaky cases.
            let id = submitted.id
            let cases = try await api.call(.GET, "/api/v1/testruns/\(id)/cases")
            #expect(cases.status == 200)
            #expect(String(decoding: cases.body, as: UTF8.self).contains(#""case":"echo""#))
            #expect(
                try await api.call(.GET, "/api/v1/testruns/\(id)/cases", query: "result=PASS&package=shell-basics&name=ECH&steps=true")
                    .status == 200)
            #expect(try await api.call(.GET, "/api/v1/testruns/\(id)/cases", query: "result=maybe").status == 400)
            #expect(try await api.call(.GET, "/api/v1/testruns/\(id)/cases", query: "limit=0").status == 400)
            #expect(try await api.call(.GET, "/api/v1/testruns/\(id)/cases", query: "steps=yes").status == 400)
            #expect(try await api.call(.GET, "/api/v1/testruns/no-such-testrun/cases").status == 404)
            let one = try await api.call(.GET, "/api/v1/testruns/\(id)/case", query: "package=shell-basics&set=commands&case=exit-code")
            #expect(one.status == 200)
            #expect(String(decoding: one.body, as: UTF8.self).contains(#""return_code":3"#))
            #expect(try await api.call(.GET, "/api/v1/testruns/\(id)/case", query: "package=shell-basics&case=echo").status == 400)
            #expect(
                try await api.call(.GET, "/api/v1/testruns/\(id)/case", query: "package=shell-basics&set=commands&case=nope").status == 404)
            #expect(try await api.call(.GET, "/api/v1/testruns/\(id)/causes").status == 200)
            #expect(try await api.call(.GET, "/api/v1/testruns/no-such-testrun/causes").status == 404)
            #expect(
                try await api.call(.GET, "/api/v1/history", query: "package=shell-basics&set=commands&case=echo&devicegroup=e2e").status
                    == 200)
            #expect(try await api.call(.GET, "/api/v1/history", query: "package=shell-basics&limit=5").status == 200)
            #expect(try await api.call(.GET, "/api/v1/history").status == 400)
            #expect(try await api.call(.GET, "/api/v1/history", query: "package=shell-basics&case=echo").status == 400)
            #expect(try await api.call(.GET, "/api/v1/history", query: "package=shell-basics&limit=0").status == 400)
            #expect(try await api.call(.GET, "/api/v1/flaky").status == 200)
            #expect(try await api.call(.GET, "/api/v1/flaky", query: "devicegroup=e2e").status == 200)
            #expect(try await api.call(.GET, "/api/v1/events/stream", query: "after=soon").status == 400)
            #expect(try await api.call(.GET, "/metrics").status == 200)

            let recorded = try farm.workspace.write("monitor-responses.jsonl", api.lines.joined(separator: "\n") + "\n")
            try await OpenAPIContractTests.check(recorded, spec: Self.spec)
        }
    }
}
