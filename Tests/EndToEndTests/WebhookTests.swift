import Foundation
import OTSClient
import OTSCore
import OTSTestSupport
import Testing

/// Webhooks and testrun callbacks, delivered to a real HTTP receiver (a
/// small Python server) while the testrun runs.
@Suite(.timeLimit(.minutes(10))) struct WebhookTests {
    struct Delivery: Decodable {
        var path: String
        var id: String
        var type: String
        var attempt: String
        var signed: Bool
        var body_id: String
    }

    final class Receiver: @unchecked Sendable {
        // Only the owning test touches it.
        let process = Process()
        let log: String
        let port: Int

        init(folder: String, secret: String) throws {
            log = folder + "/deliveries.jsonl"
            try Data().write(to: URL(fileURLWithPath: log))
            port = try SSHServer.freePort()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [
                "python3", OTSBinary.repositoryRoot + "/Tests/EndToEndTests/Fixtures/webhook-receiver.py", String(port), secret, log,
            ]
            try process.run()
        }

        /// Waits until the receiver accepts connections.
        func waitUntilListening() async throws {
            try await eventually("the webhook receiver to listen on \(port)", within: .seconds(5), every: .milliseconds(50)) {
                SSHServer.canConnect(port: port)
            }
        }

        var deliveries: [Delivery] {
            ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
                try? JSONDecoder().decode(Delivery.self, from: Data($0.utf8))
            }
        }

        deinit {
            kill(process.processIdentifier, SIGKILL)
            while process.isRunning { usleep(10_000) }
        }
    }

    @Test func signedEventsArriveDuringTheTestrunAndAFailingReceiverIsDeadLettered() async throws {
        try await TestFarm.with(engine: .sqlite, workers: [TestFarm.WorkerSpec(name: "w1")]) { farm in
            let receiver = try Receiver(folder: farm.workspace.path, secret: "s3cret")
            try await receiver.waitUntilListening()
            let base = "http://127.0.0.1:\(receiver.port)"
            let (_, url) = try await farm.startMonitor(
                settings: """
                    callback_secret = "s3cret"
                    delivery_attempts = 3
                    retry_seconds = 0.05

                    [[webhook]]
                    name = "lab"
                    url = "\(base)/ok"
                    secret = "s3cret"
                    types = ["testrun.", "failure"]

                    [[webhook]]
                    name = "broken"
                    url = "\(base)/fail"
                    types = ["testrun.finished"]
                    """)
            try await farm.waitForPublishers(["webhook:lab", "webhook:broken"])
            var asked = request(device: ["shell-basics", "failing-case"])
            asked.callbackURL = base + "/ok"
            let submitted = try await farm.client.submit(asked)
            _ = try await farm.waitForEnd(submitted.id)

            let stored = try await OTSClient(baseURL: url).events(testrun: submitted.id)
            let everyID = Set(stored.map(\.id))
            var deliveries: [Delivery] = []
            func complete() -> Bool {
                deliveries.filter { $0.path == "/fail" }.count >= 3
                    && everyID.isSubset(of: Set(deliveries.filter { $0.path == "/ok" }.map(\.id)))
            }
            try await eventually("every delivery and three tries of the failing one", within: .seconds(60), every: .milliseconds(200)) {
                deliveries = receiver.deliveries
                return complete()
            }
            let ok = deliveries.filter { $0.path == "/ok" }
            #expect(ok.allSatisfy { $0.signed }, "every delivery carries a right HMAC-SHA256 signature")
            #expect(ok.allSatisfy { $0.id == $0.body_id })
            let wanted = stored.filter { $0.type.rawValue.hasPrefix("testrun.") || $0.type == .failure }
            let callbackIDs = Set(stored.map(\.id))
            // The webhook's share and the callback's share both arrive, in order.
            let received = ok.map(\.id)
            #expect(wanted.allSatisfy { event in received.contains(event.id) }, "the webhook got the events it wants")
            #expect(callbackIDs.isSubset(of: Set(received)), "the callback got every event of its testrun")
            #expect(ok.contains { $0.type == "failure" }, "the failing case's failure was sent")

            let failed = deliveries.filter { $0.path == "/fail" }
            #expect(failed.map(\.attempt) == ["1", "2", "3"], "tried three times")
            #expect(failed.allSatisfy { !$0.signed }, "no secret, no signature")
            var letters: [String] = []
            try await eventually("a dead letter", within: .seconds(10)) {
                letters = try await farm.deadLetters()
                return !letters.isEmpty
            }
            #expect(letters == ["webhook:broken"], "then kept as a dead letter")
        }
    }
}
