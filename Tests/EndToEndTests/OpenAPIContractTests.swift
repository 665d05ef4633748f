import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OTSClient
import OTSCore
import Subprocess
import SystemPackage
import Testing

/// Real answers of a real server, every operation, checked against the
/// OpenAPI document the project ships (scripts/check-openapi.py).
@Suite(.timeLimit(.minutes(10))) struct OpenAPIContractTests {
    /// Records each exchange as a JSON line for the checker.
    final class Recorder: @unchecked Sendable {
        // Only the one test that owns it appends, one request at a time.
        let baseURL: String
        var lines: [String] = []
        /// Sent as `Authorization: Bearer` when set.
        var token: String?

        init(baseURL: String) { self.baseURL = baseURL }

        @discardableResult
        func call(_ method: HTTPMethod, _ path: String, query: String = "", body: String? = nil, contentType: String = "application/json")
            async throws -> (status: Int, body: Data)
        {
            var request = HTTPClientRequest(url: baseURL + path + (query.isEmpty ? "" : "?" + query))
            request.method = method
            if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
            if let body {
                request.headers.add(name: "Content-Type", value: contentType)
                request.body = .bytes(ByteBuffer(string: body))
            }
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
            let data = Data(try await response.body.collect(upTo: 64 * 1024 * 1024).readableBytesView)
            let type = response.headers.first(name: "Content-Type") ?? ""
            var record: [String: Any] = [
                "method": method.rawValue, "path": path, "status": Int(response.status.code), "content_type": type,
            ]
            if type.hasPrefix("application/json"), !data.isEmpty {
                record["body"] = try JSONSerialization.jsonObject(with: data)
            } else {
                record["body"] = NSNull()
            }
            lines.append(String(decoding: try JSONSerialization.data(withJSONObject: record), as: UTF8.self))
            return (Int(response.status.code), data)
        }
    }

    static let spec = OTSBinary.repositoryRoot + "/Sources/OTSServer/openapi.json"

    @Test func everyOperationAnswersAsTheDocumentSays() async throws {
        // The probe below holds its task without heartbeats: a lease long enough for a slow machine.
        try await TestFarm.with(engine: .sqlite, serverSettings: ["lease_seconds": "120"], workers: [TestFarm.WorkerSpec(name: "w1")]) {
            farm in
            let api = Recorder(baseURL: farm.baseURL)
            api.token = farm.token
            let served = try await api.call(.GET, "/api/v1/openapi.json")
            #expect(served.body == FileManager.default.contents(atPath: Self.spec), "the server serves the document in the repository")
            try await api.call(.GET, "/api/v1/health")

            let submit =
                #"{"device": {"devicegroup": "e2e"}, "packages": {"device": ["shell-basics", "failing-case"]}, "image": "file:///dev/null"}"#
            let created = try await api.call(.POST, "/api/v1/testruns", body: submit)
            #expect(created.status == 201)
            let id = try JSONCoding.decoder().decode(TestrunView.self, from: created.body).id
            #expect(try await api.call(.POST, "/api/v1/testruns", body: #"{"device": {}}"#).status == 400)
            #expect(try await api.call(.POST, "/api/v1/testruns", body: "{").status == 400)
            try await api.call(.GET, "/api/v1/testruns", query: "limit=5")
            #expect(try await api.call(.GET, "/api/v1/testruns", query: "state=sleeping").status == 400)
            _ = try await farm.waitForEnd(id)
            try await api.call(.GET, "/api/v1/testruns/\(id)")
            #expect(try await api.call(.GET, "/api/v1/testruns/no-such-id").status == 404)
            try await api.call(.GET, "/api/v1/testruns/\(id)/results", query: "format=xml")
            try await api.call(.GET, "/api/v1/testruns/\(id)/results", query: "format=junit")
            #expect(try await api.call(.GET, "/api/v1/testruns/\(id)/results", query: "format=pdf").status == 400)
            try await api.call(.GET, "/api/v1/testruns/\(id)/files")
            #expect(try await api.call(.GET, "/api/v1/testruns/\(id)/files/content", query: "task=x&package=y&name=z").status == 404)
            #expect(try await api.call(.GET, "/api/v1/testruns/\(id)/files/content").status == 400)
            #expect(try await api.call(.POST, "/api/v1/testruns/\(id)/cancel").status == 409)

            // Tokens: made, listed and revoked by an admin; refused without
            // one, and a read token may not submit.
            let made = try await api.call(.POST, "/api/v1/tokens", body: #"{"name": "reader", "scope": "read"}"#)
            #expect(made.status == 201)
            let reader = try JSONCoding.decoder().decode(CreatedToken.self, from: made.body)
            #expect(try await api.call(.POST, "/api/v1/tokens", body: #"{"name": "", "scope": "worker"}"#).status == 400)
            let listed = try JSONCoding.decoder().decode([TokenInfo].self, from: try await api.call(.GET, "/api/v1/tokens").body)
            #expect(listed.map(\.name).contains("reader"))
            api.token = reader.token
            #expect(try await api.call(.POST, "/api/v1/testruns", body: submit).status == 403)
            #expect(try await api.call(.GET, "/api/v1/tokens").status == 403)
            api.token = nil
            #expect(try await api.call(.POST, "/api/v1/testruns", body: submit).status == 401)
            #expect(try await api.call(.POST, "/api/v1/testruns/\(id)/cancel").status == 401)
            api.token = farm.token
            #expect(try await api.call(.DELETE, "/api/v1/tokens/\(reader.info.id)").status == 200)
            #expect(try await api.call(.DELETE, "/api/v1/tokens/\(reader.info.id)").status == 404)

            // The worker protocol, spoken by hand for a device no worker has.
            let registration = #"{"host": "probe", "instance": "p1", "version": "0.1.0", "pid": 1, "device": {"devicegroup": "probe"}}"#
            #expect(try await api.call(.POST, "/api/v1/workers", body: registration).status == 401, "an admin token does not enroll")
            api.token = TestFarm.enrollmentSecret
            let enrolled = try await api.call(.POST, "/api/v1/workers", body: registration)
            #expect(enrolled.status == 201)
            #expect(try await api.call(.POST, "/api/v1/workers", body: #"{"host": "probe"}"#).status == 400)
            let workerToken = try #require(try JSONCoding.decoder().decode(WorkerRegistered.self, from: enrolled.body).token)
            api.token = workerToken
            let worker = "probe/p1"
            try await api.call(.POST, "/api/v1/workers/heartbeat", body: #"{"worker_id": "\#(worker)", "state": "free"}"#)
            #expect(
                try await api.call(.POST, "/api/v1/workers/heartbeat", body: #"{"worker_id": "nobody/x", "state": "free"}"#).status == 403,
                "a worker's token acts for that worker only")
            #expect(
                try await api.call(.POST, "/api/v1/workers/claim", body: #"{"worker_id": "\#(worker)", "wait_seconds": 0}"#).status == 204)
            #expect(try await api.call(.POST, "/api/v1/testruns", body: submit).status == 403, "a worker's token submits nothing")
            api.token = farm.token
            let probeRun = try await api.call(
                .POST, "/api/v1/testruns", body: #"{"device": {"devicegroup": "probe"}, "packages": {"device": ["shell-basics"]}}"#)
            api.token = workerToken
            let probeID = try JSONCoding.decoder().decode(TestrunView.self, from: probeRun.body).id
            let claimed = try await api.call(.POST, "/api/v1/workers/claim", body: #"{"worker_id": "\#(worker)", "wait_seconds": 5}"#)
            #expect(claimed.status == 200)
            let task = try JSONCoding.decoder().decode(TaskAssignment.self, from: claimed.body)
            #expect(task.testrunID == probeID)
            let heartbeat = try await api.call(
                .POST, "/api/v1/workers/heartbeat", body: #"{"worker_id": "\#(worker)", "state": "busy", "task_id": "\#(task.taskID)"}"#)
            #expect(String(decoding: heartbeat.body, as: UTF8.self).contains(#""stop_task":false"#))

            let event = MonitorEvent(
                type: .taskStarted, sender: .init(host: "probe", instance: "p1"), testrunID: probeID, taskID: task.taskID,
                attempt: task.attempt)
            let batch = String(decoding: try JSONCoding.encoder().encode(EventBatch(events: [event])), as: UTF8.self)
            let first = try await api.call(.POST, "/api/v1/events", body: batch)
            let again = try await api.call(.POST, "/api/v1/events", body: batch)
            #expect(try JSONCoding.decoder().decode(EventBatchReply.self, from: first.body) == EventBatchReply(accepted: 1, duplicates: 0))
            #expect(try JSONCoding.decoder().decode(EventBatchReply.self, from: again.body) == EventBatchReply(accepted: 0, duplicates: 1))
            #expect(try await api.call(.POST, "/api/v1/events", body: #"{"events": [{"id": "x"}]}"#).status == 400)

            let results = String(decoding: try await farm.client.results(id: id, format: "xml"), as: UTF8.self)
            let query = "worker=\(worker)&package=shell-basics"
            #expect(
                try await api.call(
                    .PUT, "/api/v1/tasks/\(task.taskID)/results", query: query, body: results, contentType: "application/xml"
                ).status == 200)
            #expect(
                try await api.call(
                    .PUT, "/api/v1/tasks/\(task.taskID)/results", query: query, body: "<nope/>", contentType: "application/xml"
                ).status == 400)
            #expect(
                try await api.call(
                    .PUT, "/api/v1/tasks/\(task.taskID)/results", query: "worker=other/x&package=shell-basics", body: results,
                    contentType: "application/xml"
                ).status == 403)
            #expect(
                try await api.call(
                    .PUT, "/api/v1/tasks/\(task.taskID)/files", query: query + "&name=log.txt", body: "hello",
                    contentType: "application/octet-stream"
                ).status == 200)
            #expect(
                try await api.call(
                    .PUT, "/api/v1/tasks/\(task.taskID)/files", query: query + "&name=..", body: "x",
                    contentType: "application/octet-stream"
                ).status == 400)
            let finish = #"{"worker_id": "\#(worker)", "verdict": "PASS"}"#
            #expect(try await api.call(.POST, "/api/v1/tasks/\(task.taskID)/finish", body: finish).status == 200)
            #expect(
                try await api.call(.POST, "/api/v1/tasks/\(task.taskID)/finish", body: finish).status == 200,
                "a resent finish is acknowledged")
            #expect(try await api.call(.POST, "/api/v1/tasks/\(task.taskID)/finish", body: #"{"worker_id": "\#(worker)"}"#).status == 400)
            #expect(try await api.call(.POST, "/api/v1/workers/offline", body: #"{"worker_id": "\#(worker)"}"#).status == 200)
            #expect(try await api.call(.POST, "/api/v1/workers/offline", body: #"{"worker_id": "nobody/x"}"#).status == 403)
            let probeEnd = try await farm.client.testrun(id: probeID)
            // The server judges by the uploaded results (those of the first
            // testrun, with failing-case's failure), not by the worker's word.
            #expect(probeEnd.verdict == .fail, "\(probeEnd.summaryText)")
            try await api.call(.GET, "/api/v1/testruns/\(probeID)/files")

            // Devices: every instance's health, and an admin's commands.
            #expect(try await api.call(.POST, "/api/v1/devices/probe/p1/retire").status == 403, "a worker's token commands nothing")
            api.token = farm.token
            let devices = try JSONCoding.decoder().decode(DeviceList.self, from: try await api.call(.GET, "/api/v1/devices").body)
            #expect(devices.devices.contains { $0.workerID == worker })
            #expect(try await api.call(.POST, "/api/v1/devices/probe/p1/maintenance", body: "{}").status == 400, "a reason is required")
            #expect(try await api.call(.POST, "/api/v1/devices/probe/p1/maintenance", body: #"{"reason": "bench"}"#).status == 200)
            #expect(try await api.call(.POST, "/api/v1/devices/probe/p1/maintenance", body: #"{"reason": "again"}"#).status == 409)
            #expect(try await api.call(.POST, "/api/v1/devices/probe/p1/retire").status == 200)
            #expect(try await api.call(.POST, "/api/v1/devices/probe/p1/online", body: #"{"reason": "back"}"#).status == 200)
            #expect(try await api.call(.POST, "/api/v1/devices/nobody/x/online").status == 404)
            let unserved = try await api.call(
                .POST, "/api/v1/testruns", body: #"{"device": {"devicegroup": "nobody"}, "packages": {"device": ["shell-basics"]}}"#)
            #expect(try JSONCoding.decoder().decode(TestrunView.self, from: unserved.body).warnings?.isEmpty == false)

            let recorded = try farm.workspace.write("responses.jsonl", api.lines.joined(separator: "\n") + "\n")
            try await Self.check(recorded)
        }
    }

    /// Runs the checker; fails the test on any mismatch.
    static func check(_ recorded: String, spec: String = spec) async throws {
        let result = try await Subprocess.run(
            .name("python3"),
            arguments: [OTSBinary.repositoryRoot + "/scripts/check-openapi.py", spec, recorded],
            output: .string(limit: 1024 * 1024),
            error: .string(limit: 1024 * 1024)
        )
        let output = result.standardOutput + result.standardError
        if output.contains("No module named") && ProcessInfo.processInfo.environment["OTS_REQUIRE_OPENAPI_CHECK"] != "1" {
            print("note: the OpenAPI checker's Python packages are missing; ./scripts/test.sh installs them")
            return
        }
        #expect(result.terminationStatus.isSuccess, "\(output)")
        #expect(output.contains("checked"), "\(output)")
    }
}
