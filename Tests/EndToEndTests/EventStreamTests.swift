import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OTSClient
import OTSCore
import OTSTestSupport
import Testing

/// The monitor's live stream, read by a real HTTP client.
@Suite(.timeLimit(.minutes(10))) struct EventStreamTests {
    struct Received: Equatable {
        var id: String
        var type: String
        var eventID: String
    }

    /// Reads the stream until `done` says so, then hangs up.
    /// `connected` is called once the answer's head has come: the stream's
    /// position is set by then.
    static func read(
        _ url: String, lastEventID: String? = nil, connected: () -> Void = {}, done: ([Received]) -> Bool
    ) async throws -> [Received] {
        var request = HTTPClientRequest(url: url)
        if let lastEventID { request.headers.add(name: "Last-Event-ID", value: lastEventID) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(60))
        connected()
        #expect(response.headers.first(name: "Content-Type") == "text/event-stream")
        var received: [Received] = []
        var text = ""
        for try await chunk in response.body {
            text += String(buffer: chunk)
            while let end = text.range(of: "\n\n") {
                let block = text[..<end.lowerBound]
                text.removeSubrange(..<end.upperBound)
                var fields: [String: String] = [:]
                for line in block.split(separator: "\n") where !line.hasPrefix(":") {
                    let parts = line.split(separator: ":", maxSplits: 1).map(String.init)
                    if parts.count == 2 { fields[parts[0]] = String(parts[1].dropFirst()) }
                }
                guard let id = fields["id"], let type = fields["event"], let data = fields["data"] else { continue }
                let event = try JSONCoding.decoder().decode(MonitorEvent.self, from: Data(data.utf8))
                #expect(event.type.rawValue == type)
                received.append(Received(id: id, type: type, eventID: event.id))
            }
            if done(received) { break }
        }
        return received
    }

    @Test func aClientThatReconnectsGetsEveryEventOnce() async throws {
        let gate = FileManager.default.temporaryDirectory.path + "/ots-gate-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: gate) }
        var worker = TestFarm.WorkerSpec(name: "w1")
        worker.environment = ["OTS_GATE": gate]
        try await TestFarm.with(engine: .sqlite, workers: [worker]) { farm in
            let (_, monitorURL) = try await farm.startMonitor()
            let submitted = try await farm.client.submit(request(device: ["gated"]))
            let url = monitorURL + "/api/v1/events/stream?testrun=\(submitted.id)"

            // Mid-testrun: take a few events and hang up.
            let first = try await Self.read(url) { $0.count >= 4 }
            #expect(first.map(\.type).prefix(4) == ["testrun.requested", "testrun.planned", "task.queued", "testrun.queued"])
            FileManager.default.createFile(atPath: gate, contents: nil)

            let rest = try await Self.read(url, lastEventID: first.last?.id) { $0.contains { $0.type == "testrun.finished" } }
            let all = first + rest
            #expect(Set(all.map(\.eventID)).count == all.count, "none twice")
            let stored = try await OTSClient(baseURL: monitorURL).events(testrun: submitted.id)
            #expect(all.map(\.eventID) == stored.map(\.id), "every event of the testrun, in order")
            #expect(all.last?.type == "testrun.finished")

            // `after=now` starts with the next event, not with the history.
            let (connected, connection) = AsyncStream<Void>.makeStream()
            let later = Task {
                defer { connection.finish() }
                return try await Self.read(
                    monitorURL + "/api/v1/events/stream?after=now&type=testrun.requested", connected: { connection.finish() }
                ) { $0.count >= 1 }
            }
            // Ends when the stream has connected (or failed to: `later` says).
            for await _ in connected {}
            let next = try await farm.client.submit(request(device: ["gated"]))
            let fresh = try await later.value
            let requested = try await OTSClient(baseURL: monitorURL).events(testrun: next.id, type: "testrun.requested")
            #expect(fresh.map(\.eventID) == requested.map(\.id), "only the new testrun's request")

            do {
                _ = try await OTSClient(baseURL: monitorURL).send(.GET, "events/stream", query: [("after", "soon")])
                Issue.record("accepted a bad position")
            } catch let error as ClientError {
                #expect(error.status == 400)
            }
        }
    }
}
