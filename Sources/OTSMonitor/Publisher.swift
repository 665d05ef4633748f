import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import OTSCore
import OTSHTTP
import OTSStore
import ServiceLifecycle

/// Delivers stored events over HTTP as they are stored: to a configured
/// webhook (the events it wants), or to each testrun's `callback_url` (that
/// testrun's events). Deliveries go in order, each tried with growing waits
/// until it succeeds or runs out of tries and is kept as a dead letter; the
/// position moves on either way, so one bad receiver holds up only itself.
struct Publisher: Service {
    enum Target: Sendable {
        case webhook(MonitorConfiguration.Webhook)
        case callbacks
    }

    let target: Target
    let store: Store
    let configuration: MonitorConfiguration
    let http: HTTPClient
    /// Where this monitor listens: callbacks never go there.
    let own: OwnAddress
    let logger: Logger
    /// This replica, as the holder of the publisher's lease.
    let owner = "\(ProcessInfo.processInfo.hostName)/\(ProcessInfo.processInfo.processIdentifier)/\(UUID().uuidString.prefix(8))"
    /// How long a lease lasts unrenewed: longer than one delivery's tries.
    var lease: Duration {
        .seconds(max(60, configuration.retrySeconds * pow(2, Double(configuration.deliveryAttempts)) + 60))
    }

    var name: String {
        switch target {
        case .webhook(let webhook): "webhook:" + webhook.name
        case .callbacks: "callbacks"
        }
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var backoff = Backoff(initial: .milliseconds(200))
            var polling = IdlePolling(seconds: configuration.pollInterval)
            while !Task.isCancelled {
                do {
                    let published = try await publishSome()
                    if published == 0 {
                        try? await Task.sleep(for: polling.wait(found: 0))
                    } else {
                        _ = polling.wait(found: published)
                    }
                    backoff.reset()
                } catch {
                    if Task.isCancelled { break }
                    let wait = backoff.next()
                    logger.error("publisher \(name): \(error); trying again in \(wait)")
                    try? await Task.sleep(for: wait)
                }
            }
        }
    }

    /// Delivers the next stored events; returns how many it went past.
    func publishSome() async throws -> Int {
        let (name, target) = (self.name, self.target)
        let (owner, lease) = (self.owner, self.lease)
        // A read first: a publisher that has delivered everything takes no
        // write lock to find that nothing is new.
        let idle = try await store.read { tx in
            guard let place = try await tx.publisherPosition(name) else { return false }
            return try await tx.lastEventPosition() <= place
        }
        if idle { return 0 }
        let batch = try await store.transaction { tx -> [(sequence: Int64, payload: String)] in
            // Another replica publishes while it holds the lease.
            guard try await tx.leasePublisher(name, owner: owner, lease: lease) else { return [] }
            var position: Int64
            if let place = try await tx.publisherPosition(name) {
                position = place
            } else {
                // A new webhook starts with what happens from now on (on an
                // empty store: with the first event); callbacks go back to
                // the start, since their testruns asked.
                if case .webhook = target { position = try await tx.lastEventPosition() } else { position = 0 }
                try await tx.movePublisher(name, to: position)
            }
            return try await tx.events(afterSequence: position, limit: 100)
        }
        // The place is kept after each delivery (a restart does not deliver
        // it again) and once after the events that go nowhere, instead of
        // a write transaction for each stored event.
        func keep(_ sequence: Int64) async throws -> Bool {
            try await store.transaction { tx in
                guard try await tx.leasePublisher(name, owner: owner, lease: lease) else { return false }
                try await tx.movePublisher(name, to: sequence)
                return true
            }
        }
        var unkept: Int64?
        var callbacks: [String: String?] = [:]
        for (sequence, payload) in batch {
            guard !Task.isCancelled else { break }
            let event = try? MonitorEvent.decodeJSON(payload)
            var destination: (url: String, secret: String?)?
            switch target {
            case .webhook(let webhook):
                if let event, webhook.wants(event.type.rawValue) { destination = (webhook.url, webhook.secret) }
            case .callbacks:
                if let testrunID = event?.testrunID {
                    if callbacks[testrunID] == nil {
                        callbacks[testrunID] = try await store.read { tx in
                            try await tx.testrun(id: testrunID).flatMap {
                                try? JSONCoding.decoder().decode(TestrunRequest.self, from: Data($0.request.utf8)).callbackURL
                            }
                        }
                    }
                    if let url = callbacks[testrunID] ?? nil { destination = (url, configuration.callbackSecret) }
                }
            }
            guard let destination, let event else {
                unkept = sequence
                continue
            }
            if case .callbacks = target, let refusal = configuration.callbackRefusal(destination.url, own: own) {
                await setAside(event, payload: payload, to: destination.url, attempts: 0, error: "not delivered: \(refusal)")
            } else {
                await deliver(event, payload: payload, to: destination.url, secret: destination.secret)
            }
            unkept = nil
            // Lost the lease (this replica stalled): the holder goes on from its position.
            guard try await keep(sequence) else { return batch.count }
        }
        if let unkept { _ = try await keep(unkept) }
        return batch.count
    }

    /// Tries one delivery until it succeeds or its tries run out.
    func deliver(_ event: MonitorEvent, payload: String, to url: String, secret: String?) async {
        // Doubling each time, never held (the cap is past the last try).
        var backoff = Backoff(
            initial: .milliseconds(Int64(configuration.retrySeconds * 1000)),
            maximum: .milliseconds(Int64(configuration.retrySeconds * 1000 * pow(2, Double(configuration.deliveryAttempts)))))
        var lastError = ""
        for attempt in 1...configuration.deliveryAttempts {
            var request = HTTPClientRequest(url: url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "User-Agent", value: "ots-monitor/\(OTSVersion.current)")
            request.headers.add(name: "X-OTS-Event-ID", value: event.id)
            request.headers.add(name: "X-OTS-Event-Type", value: event.type.rawValue)
            request.headers.add(name: "X-OTS-Delivery-Attempt", value: String(attempt))
            if let secret {
                request.headers.add(name: "X-OTS-Signature", value: "sha256=" + Self.signature(of: payload, key: secret))
            }
            request.body = .bytes(ByteBuffer(string: payload))
            do {
                let response = try await http.execute(request, timeout: .seconds(10))
                _ = try? await response.body.collect(upTo: 1 << 16)
                if (200..<300).contains(response.status.code) { return }
                lastError = "the receiver answered \(response.status.code)"
            } catch {
                lastError = "\(error)"
            }
            if attempt < configuration.deliveryAttempts {
                try? await Task.sleep(for: backoff.next())
            }
        }
        await setAside(
            event, payload: payload, to: url, attempts: configuration.deliveryAttempts,
            error: "failed \(configuration.deliveryAttempts) times (\(lastError))")
    }

    /// Keeps a delivery that did not happen as a dead letter, and says so.
    func setAside(_ event: MonitorEvent, payload: String, to url: String, attempts: Int, error: String) async {
        logger.error("publisher \(name): event \(event.id) to \(url) \(error); kept as a dead letter")
        do {
            try await store.transaction { tx in
                try await tx.recordDeadLetter(
                    DeadLetter(publisher: name, url: url, eventID: event.id, payload: payload, attempts: attempts, error: error))
            }
        } catch {
            logger.error("publisher \(name): cannot record the dead letter of event \(event.id): \(error)")
        }
    }

    /// The client deliveries go with: it never follows a redirect, so a
    /// receiver cannot send a delivery somewhere the checks did not see.
    static let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))

    /// Lower-case hex of HMAC-SHA256 of the body with the key.
    static func signature(of body: String, key: String) -> String {
        HMAC<SHA256>.authenticationCode(for: Data(body.utf8), using: SymmetricKey(data: Data(key.utf8)))
            .map { String(format: "%02x", $0) }.joined()
    }
}
