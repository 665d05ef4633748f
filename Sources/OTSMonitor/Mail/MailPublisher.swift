import Foundation
import Logging
import OTSClient
import OTSCore
import OTSStore
import ServiceLifecycle
import TestDefinition

/// Mails each testrun's verdict to its `notify` list, beside the webhooks
/// and callbacks. It walks the stored events with a publisher's place in
/// the store: each testrun that ended and asked for mail gets one row in
/// `mail_deliveries`, whichever replica sees it. A replica claims a row
/// before it sends (a lease in the store), so one mail goes out however
/// many monitors run; a try that fails is tried again later with growing
/// waits (`Backoff` from `retry_seconds`), and after `delivery_attempts`
/// tries the mail is kept as a dead letter. Each try is told as an event
/// (`mail.sent`, `mail.failed`, `mail.dead_lettered`), so `ots events`,
/// the dashboard and `/metrics` show it.
struct MailPublisher: Service {
    static let name = "mail"

    let store: Store
    let email: MonitorConfiguration.Email
    let configuration: MonitorConfiguration
    let logger: Logger
    /// This replica, as the holder of leases.
    let owner = "\(ProcessInfo.processInfo.hostName)/\(ProcessInfo.processInfo.processIdentifier)/\(UUID().uuidString.prefix(8))"
    let sender = MonitorEvent.Sender.this("monitor")

    /// Longer than one try: reading the results (two calls of at most a
    /// minute) and the SMTP session.
    var lease: Duration { email.client.timeout + .seconds(180) }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var backoff = Backoff(initial: .milliseconds(200))
            var polling = IdlePolling(seconds: configuration.pollInterval)
            while !Task.isCancelled {
                do {
                    let done = try await queueSome() + sendDue()
                    var wait = polling.wait(found: done)
                    if done == 0, let due = try await store.read({ tx in try await tx.nextMailDue() }) {
                        // A retry falls due before the next look: wake for it.
                        let seconds = max(0, due.timeIntervalSinceNow)
                        wait = min(wait, .milliseconds(Int64(seconds * 1000) + 1))
                    }
                    if done == 0 { try? await Task.sleep(for: wait) }
                    backoff.reset()
                } catch {
                    if Task.isCancelled { break }
                    let wait = backoff.next()
                    logger.error("mail: \(error); trying again in \(wait)")
                    try? await Task.sleep(for: wait)
                }
            }
        }
    }

    /// Queues the mails of the testruns that ended in the next stored
    /// events; returns how many events it went past.
    func queueSome() async throws -> Int {
        let (name, owner) = (Self.name, self.owner)
        let lease = self.lease
        return try await store.transaction { tx in
            guard try await tx.leasePublisher(name, owner: owner, lease: lease) else { return 0 }
            var position: Int64
            if let place = try await tx.publisherPosition(name) {
                position = place
            } else {
                // Mail starts with the testruns that end from now on.
                position = try await tx.lastEventPosition()
                try await tx.movePublisher(name, to: position)
            }
            let batch = try await tx.events(afterSequence: position, limit: 500)
            guard let last = batch.last else { return 0 }
            let decoder = JSONCoding.decoder()
            for (_, payload) in batch {
                guard let event = try? decoder.decode(MonitorEvent.self, from: Data(payload.utf8)),
                    Self.ends.contains(event.type), let testrunID = event.testrunID
                else { continue }
                guard let requested = try await tx.events(testrunID: testrunID, type: EventType.testrunRequested.rawValue, limit: 1).first,
                    let request = try? decoder.decode(MonitorEvent.self, from: Data(requested.payload.utf8)),
                    let mail = MailRequest(details: request.details ?? [:])
                else { continue }
                if try await tx.queueMail(testrunID: testrunID, eventID: event.id, recipients: mail.recipients) {
                    logger.info("mail: testrun \(testrunID) ended; its mail to \(mail.recipients.joined(separator: ", ")) is queued")
                }
            }
            try await tx.movePublisher(name, to: last.sequence)
            return batch.count
        }
    }

    /// The events that end a testrun.
    static let ends: Set<EventType> = [.testrunFinished, .testrunCancelled, .testrunTimedOut]

    /// Sends the mails that are due, one claim each; returns how many it tried.
    func sendDue() async throws -> Int {
        // A read first: an idle monitor takes no write lock for mail.
        guard let due = try await store.read({ tx in try await tx.nextMailDue() }), due <= Date() else { return 0 }
        var tried = 0
        while !Task.isCancelled, tried < 20 {
            let (owner, lease) = (self.owner, self.lease)
            guard let delivery = try await store.transaction({ tx in try await tx.claimMail(owner: owner, lease: lease) }) else { break }
            tried += 1
            await send(delivery)
        }
        return tried
    }

    /// One try of one mail, and what it leaves in the store.
    func send(_ delivery: MailDelivery) async {
        let attempt = delivery.attempts + 1
        var failure: SMTPError?
        var message: MailMessage?
        var refused: [String] = []
        do {
            let composed = try await compose(delivery)
            message = composed
            refused = try await email.client.send(composed)
        } catch let error as SMTPError {
            failure = error
        } catch {
            failure = SMTPError(.unreachable, "\(error)")
        }
        let retryAt: Date?
        var event = MonitorEvent(type: .mailSent, sender: sender, testrunID: delivery.testrunID)
        var details = ["to": delivery.recipients.joined(separator: ","), "try": String(attempt)]
        if let failure {
            // A refusal for good (5xx) is not tried again.
            let last = attempt >= configuration.deliveryAttempts || failure.code == .refused
            retryAt = last ? nil : Date().addingTimeInterval(Self.retryWait(afterTries: attempt, retrySeconds: configuration.retrySeconds))
            event.type = last ? .mailDeadLettered : .mailFailed
            details["error"] = String(failure.message.prefix(1000))
            if let retryAt { details["next_try_seconds"] = String(format: "%.1f", retryAt.timeIntervalSinceNow) }
            logger.warning(
                "mail of testrun \(delivery.testrunID), try \(attempt): \(failure.message)\(last ? "; kept as a dead letter" : "; trying again")"
            )
        } else {
            retryAt = nil
            if let message { details["subject"] = message.subject }
            if !refused.isEmpty { details["refused"] = refused.joined(separator: ",") }
            logger.info("mail of testrun \(delivery.testrunID) sent to \(delivery.recipients.joined(separator: ", "))")
        }
        event.details = details
        event.receivedAt = Date()
        let finalEvent = event
        let (owner, sent) = (self.owner, failure == nil)
        do {
            try await store.transaction { tx in
                guard
                    try await tx.recordMailTry(
                        testrunID: delivery.testrunID, owner: owner, sent: sent, error: failure?.message, retryAt: retryAt)
                else { return }
                if finalEvent.type == .mailDeadLettered {
                    try await tx.recordDeadLetter(
                        DeadLetter(
                            publisher: Self.name, url: "mailto:" + delivery.recipients.joined(separator: ","), eventID: delivery.eventID,
                            payload: message?.rendered() ?? "", attempts: attempt, error: failure?.message ?? ""))
                }
                try await tx.append([(id: finalEvent.id, payload: try JSONCoding.string(finalEvent))])
            }
        } catch {
            logger.error("mail of testrun \(delivery.testrunID): cannot record try \(attempt): \(error)")
        }
    }

    /// The wait before the try after `tries` failed ones: `retry_seconds`,
    /// doubling each time.
    static func retryWait(afterTries tries: Int, retrySeconds: Double) -> TimeInterval {
        var backoff = Backoff(initial: .milliseconds(Int64(retrySeconds * 1000)), maximum: .seconds(3600))
        var wait = backoff.next()
        for _ in 1..<max(1, tries) { wait = backoff.next() }
        return Double(wait.milliseconds) / 1000
    }

    /// The mail of a testrun, from its stored events and the server's results.
    func compose(_ delivery: MailDelivery) async throws -> MailMessage {
        let records = try await store.read { tx in try await tx.events(testrunID: delivery.testrunID, limit: 100_000) }
        let decoder = JSONCoding.decoder()
        let events = records.compactMap { try? decoder.decode(MonitorEvent.self, from: Data($0.payload.utf8)) }
        guard let requested = events.first(where: { $0.type == .testrunRequested }),
            let request = MailRequest(details: requested.details ?? [:])
        else {
            throw SMTPError(.refused, "testrun \(delivery.testrunID) has no stored testrun.requested event that asks for mail")
        }
        guard let end = events.first(where: { $0.id == delivery.eventID }) ?? events.last(where: { Self.ends.contains($0.type) }) else {
            throw SMTPError(.refused, "testrun \(delivery.testrunID) has no stored end")
        }
        var mail = VerdictMail(
            testrunID: delivery.testrunID, request: request, end: end, packages: VerdictMail.packages(from: events),
            results: nil, dashboardURL: email.dashboardURL)
        var attachments: [MailMessage.Attachment] = []
        if let server = email.serverURL {
            let client = OTSClient(baseURL: server, token: email.serverToken)
            do {
                let xml = try await client.results(id: delivery.testrunID, format: "xml")
                mail.results = try ResultsParser().parse(xml, file: "results of testrun \(delivery.testrunID)")
                if request.attachments {
                    attachments.append(
                        .init(name: "results-\(delivery.testrunID).xml", contentType: "application/xml", content: [UInt8](xml)))
                    let junit = try await client.results(id: delivery.testrunID, format: "junit")
                    attachments.append(
                        .init(name: "junit-\(delivery.testrunID).xml", contentType: "application/xml", content: [UInt8](junit)))
                }
            } catch {
                mail.resultsNote = "the results could not be read from \(server): \(error)"
                logger.warning("mail of testrun \(delivery.testrunID): \(mail.resultsNote!)")
            }
        } else {
            mail.resultsNote = "not told (the monitor's [email] has no server_url)"
        }
        return MailMessage(
            from: email.from, to: delivery.recipients, subject: mail.subject, body: mail.body, attachments: attachments,
            messageID: "<\(delivery.testrunID).\(UUID().uuidString.prefix(8))@ots>")
    }
}
