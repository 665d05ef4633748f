import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import OTSCore
import OTSHTTP
import OTSStore
import OTSTestSupport
import Synchronization
import Testing

@testable import OTSMonitor

/// What the publisher decides, over a real store and a real receiver on a
/// loopback port: which events go where, how often a delivery is tried,
/// what becomes a dead letter, and who may publish.
@Suite(.timeLimit(.minutes(2))) struct PublisherTests {
    static var logger: Logger { TestStore.logger }

    struct Delivery: Sendable {
        var path: String
        var headers: HTTPFields
        var body: String
    }

    final class Receiver: Sendable {
        let seen = Mutex<[Delivery]>([])
        var deliveries: [Delivery] { seen.withLock { $0 } }
    }

    /// Runs `body` with a receiver: `/ok` takes a delivery, `/fail` answers 500.
    static func withReceiver(_ body: @Sendable (String, Receiver) async throws -> Void) async throws {
        let receiver = Receiver()
        let router = Router()
        router.post(":answer") { request, context -> Response in
            let text = String(buffer: try await request.body.collect(upTo: 1 << 20))
            receiver.seen.withLock { $0.append(Delivery(path: request.uri.path, headers: request.headers, body: text)) }
            return Response(status: context.parameters.get("answer") == "ok" ? .ok : .internalServerError)
        }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: logger)
        try await app.test(.live) { client in
            try await body("http://127.0.0.1:\(try #require(client.port))", receiver)
        }
    }

    static func withStore(_ body: (Store) async throws -> Void) async throws {
        try await TestStore.with(body)
    }

    static func configuration() -> MonitorConfiguration {
        var configuration = MonitorConfiguration()
        configuration.deliveryAttempts = 3
        configuration.retrySeconds = 0.01
        return configuration
    }

    static func publisher(_ target: Publisher.Target, _ store: Store, _ configuration: MonitorConfiguration, own: OwnAddress? = nil)
        -> Publisher
    {
        Publisher(
            target: target, store: store, configuration: configuration, http: Publisher.http,
            own: own ?? OwnAddress(host: "127.0.0.1", port: 1), logger: logger)
    }

    /// Events put on the queue and stored by the monitor, as in the farm.
    @discardableResult
    static func store(_ types: [EventType], testrun: String? = nil, in store: Store, configuration: MonitorConfiguration) async throws
        -> [MonitorEvent]
    {
        let events = types.map { type in
            MonitorEvent(type: type, emittedAt: Date(), sender: .init(host: "rack", instance: "a1", pid: 7), testrunID: testrun)
        }
        try await store.transaction { tx in try await tx.append(try events.map { ($0.id, try JSONCoding.string($0)) }) }
        try await Ingest(store: store, configuration: configuration, logger: logger).next()
        return events
    }

    @Test func theSignatureIsHMACSHA256OfTheBody() {
        // RFC 4231-style known answer: HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog").
        #expect(
            Publisher.signature(of: "The quick brown fox jumps over the lazy dog", key: "key")
                == "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8")
    }

    @Test(arguments: [
        ([String](), "task.claimed", true), (["testrun."], "testrun.finished", true), (["testrun."], "task.claimed", false),
        (["failure"], "failure", true), (["failure"], "failures", false), (["testrun.finished"], "testrun.finished.late", false),
    ])
    func aWebhookWantsItsTypesAndPrefixes(types: [String], type: String, wanted: Bool) {
        var webhook = MonitorConfiguration.Webhook(name: "lab", url: "http://127.0.0.1/ok")
        webhook.types = types
        #expect(webhook.wants(type) == wanted)
    }

    @Test func aLeaseOutlastsEveryTryOfOneDelivery() async throws {
        try await Self.withStore { store in
            var configuration = MonitorConfiguration()
            configuration.retrySeconds = 1
            configuration.deliveryAttempts = 5
            #expect(Self.publisher(.callbacks, store, configuration).lease == .seconds(92), "2^5 s of waits and a minute")
            configuration.deliveryAttempts = 1
            #expect(Self.publisher(.callbacks, store, configuration).lease == .seconds(62))
            configuration.retrySeconds = 0
            #expect(Self.publisher(.callbacks, store, configuration).lease == .seconds(60), "at least a minute")
        }
    }

    @Test func aNewWebhookStartsWithWhatHappensFromNowAndGetsOnlyWhatItWants() async throws {
        try await Self.withReceiver { base, receiver in
            try await Self.withStore { store in
                var configuration = Self.configuration()
                var webhook = MonitorConfiguration.Webhook(name: "lab", url: base + "/ok")
                webhook.types = ["testrun."]
                webhook.secret = "k"
                configuration.webhooks = [webhook]
                try await Self.store([.testrunRequested], in: store, configuration: configuration)
                let publisher = Self.publisher(.webhook(webhook), store, configuration)
                #expect(try await publisher.publishSome() == 0, "what was stored before it is not sent")

                let later = try await Self.store([.testrunQueued, .taskClaimed, .testrunFinished], in: store, configuration: configuration)
                #expect(try await publisher.publishSome() == 3, "it goes past every event")
                let deliveries = receiver.deliveries
                #expect(deliveries.map { $0.headers[HTTPField.Name("X-OTS-Event-ID")!] } == [later[0].id, later[2].id])
                let first = try #require(deliveries.first)
                #expect(first.path == "/ok")
                #expect(first.headers[HTTPField.Name("X-OTS-Event-Type")!] == "testrun.queued")
                #expect(first.headers[HTTPField.Name("X-OTS-Delivery-Attempt")!] == "1")
                #expect(first.headers[.contentType] == "application/json")
                #expect(first.headers[.userAgent] == "ots-monitor/\(OTSVersion.current)")
                #expect(first.headers[HTTPField.Name("X-OTS-Signature")!] == "sha256=" + Publisher.signature(of: first.body, key: "k"))
                let sent = try JSONCoding.decoder().decode(MonitorEvent.self, from: Data(first.body.utf8))
                #expect(sent.id == later[0].id)
                #expect(try await publisher.publishSome() == 0, "nothing twice")
                #expect(try await store.transaction { tx in try await tx.deadLetters() }.isEmpty)
            }
        }
    }

    /// Events that go nowhere move the place once, after the batch: it
    /// ends past the last of them, so nothing is looked at twice.
    @Test func thePlaceEndsPastTheEventsThatGoNowhere() async throws {
        try await Self.withReceiver { base, receiver in
            try await Self.withStore { store in
                var configuration = Self.configuration()
                var webhook = MonitorConfiguration.Webhook(name: "lab", url: base + "/ok")
                webhook.types = ["testrun."]
                configuration.webhooks = [webhook]
                try await Self.store([.testrunRequested], in: store, configuration: configuration)
                let publisher = Self.publisher(.webhook(webhook), store, configuration)
                #expect(try await publisher.publishSome() == 0)
                let later = try await Self.store(
                    [.testrunQueued, .taskClaimed, .caseFinished, .caseFinished], in: store, configuration: configuration)
                #expect(try await publisher.publishSome() == 4)
                #expect(receiver.deliveries.map { $0.headers[HTTPField.Name("X-OTS-Event-ID")!] } == [later[0].id])
                let (place, last) = try await store.read { tx in
                    (try await tx.publisherPosition(publisher.name), try await tx.lastEventPosition())
                }
                #expect(place == last)
                #expect(try await publisher.publishSome() == 0, "nothing twice")
                #expect(receiver.deliveries.count == 1)
            }
        }
    }

    @Test func aFailingReceiverIsTriedItsTimesThenKeptAsADeadLetterAndThePublisherMovesOn() async throws {
        try await Self.withReceiver { base, receiver in
            try await Self.withStore { store in
                let configuration = Self.configuration()
                let webhook = MonitorConfiguration.Webhook(name: "broken", url: base + "/fail")
                let publisher = Self.publisher(.webhook(webhook), store, configuration)
                try await Self.store([.workerOnline], in: store, configuration: configuration)
                #expect(try await publisher.publishSome() == 0, "it takes its place after what was stored")
                let events = try await Self.store([.testrunRequested, .testrunQueued], in: store, configuration: configuration)
                #expect(try await publisher.publishSome() == 2)

                let attempts = receiver.deliveries.map { $0.headers[HTTPField.Name("X-OTS-Delivery-Attempt")!] ?? "" }
                #expect(attempts == ["1", "2", "3", "1", "2", "3"], "each event tried three times, in order")
                #expect(receiver.deliveries.allSatisfy { $0.headers[HTTPField.Name("X-OTS-Signature")!] == nil }, "no secret, no signature")
                let letters = try await store.transaction { tx in try await tx.deadLetters() }
                #expect(letters.map(\.eventID) == events.map(\.id))
                #expect(letters.allSatisfy { $0.publisher == "webhook:broken" && $0.url == base + "/fail" && $0.attempts == 3 })
                #expect(letters.first?.error == "failed 3 times (the receiver answered 500)")
                #expect(try await publisher.publishSome() == 0, "the position moved past them")
            }
        }
    }

    @Test func callbacksGoToTheirTestrunsURLAndNeverToTheMonitorItself() async throws {
        try await Self.withReceiver { base, receiver in
            try await Self.withStore { store in
                var configuration = Self.configuration()
                configuration.callbackSecret = "cb"
                let own = OwnAddress(host: "127.0.0.1", port: 0)
                own.listening(on: 8311)
                for (id, url) in [("t-ok", base + "/ok"), ("t-self", "http://localhost:8311/hook"), ("t-none", nil)] {
                    var request = TestrunRequest(device: DeviceProperties(devicegroup: "phones"), packages: .init(device: ["p"]))
                    request.callbackURL = url
                    try await store.transaction { tx in
                        try await tx.insertTestrun(
                            id: id, request: try JSONCoding.string(request), deviceGroup: "phones", requestor: nil, priority: 0,
                            deadline: nil)
                    }
                }
                let publisher = Self.publisher(.callbacks, store, configuration, own: own)
                let ok = try await Self.store(
                    [.testrunRequested, .testrunFinished], testrun: "t-ok", in: store, configuration: configuration)
                let mine = try await Self.store([.testrunRequested], testrun: "t-self", in: store, configuration: configuration)
                try await Self.store([.testrunRequested], testrun: "t-none", in: store, configuration: configuration)
                try await Self.store([.workerHeartbeat], in: store, configuration: configuration)
                #expect(try await publisher.publishSome() == 5, "callbacks start from the first event")

                #expect(receiver.deliveries.map { $0.headers[HTTPField.Name("X-OTS-Event-ID")!] } == ok.map(\.id))
                #expect(
                    receiver.deliveries.allSatisfy {
                        $0.headers[HTTPField.Name("X-OTS-Signature")!] == "sha256=" + Publisher.signature(of: $0.body, key: "cb")
                    })
                let letters = try await store.transaction { tx in try await tx.deadLetters() }
                #expect(letters.map(\.eventID) == mine.map(\.id), "the callback to the monitor is set aside, not sent")
                #expect(letters.first?.attempts == 0)
                #expect(letters.first?.error == "not delivered: callback_url http://localhost:8311/hook points at this monitor")
            }
        }
    }

    @Test func whileAnotherReplicaHoldsTheLeaseNothingIsPublished() async throws {
        try await Self.withReceiver { base, receiver in
            try await Self.withStore { store in
                let configuration = Self.configuration()
                let webhook = MonitorConfiguration.Webhook(name: "lab", url: base + "/ok")
                let publisher = Self.publisher(.webhook(webhook), store, configuration)
                try await Self.store([.workerOnline], in: store, configuration: configuration)
                #expect(try await publisher.publishSome() == 0)
                try await Self.store([.testrunRequested], in: store, configuration: configuration)
                let other = Self.publisher(.webhook(webhook), store, configuration)
                #expect(other.owner != publisher.owner, "each replica is an owner of its own")
                let taken = try await store.transaction { tx in
                    try await tx.leasePublisher("webhook:lab", owner: other.owner, lease: .seconds(300))
                }
                #expect(!taken, "the first publisher holds it")
                #expect(try await other.publishSome() == 0)
                #expect(receiver.deliveries.isEmpty)
                #expect(try await publisher.publishSome() == 1, "the holder goes on")
                #expect(receiver.deliveries.count == 1)
            }
        }
    }

    /// A new webhook takes its place at the newest event; on a store
    /// without events that place is before the first, so the first events
    /// stored after it started are delivered.
    @Test func aWebhookStartedOnAnEmptyStoreGetsTheEventsThatCome() async throws {
        try await Self.withReceiver { base, receiver in
            try await Self.withStore { store in
                let configuration = Self.configuration()
                let webhook = MonitorConfiguration.Webhook(name: "lab", url: base + "/ok")
                let publisher = Self.publisher(.webhook(webhook), store, configuration)
                #expect(try await publisher.publishSome() == 0, "nothing stored yet")
                let events = try await Self.store([.testrunRequested, .testrunQueued], in: store, configuration: configuration)
                _ = try await publisher.publishSome()
                #expect(receiver.deliveries.map { $0.headers[HTTPField.Name("X-OTS-Event-ID")!] } == events.map(\.id))
            }
        }
    }
}
