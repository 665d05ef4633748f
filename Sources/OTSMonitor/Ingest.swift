import Foundation
import Logging
import OTSCore
import OTSStore

/// Takes events off the monitor queue in batches and writes what they say:
/// the event store (each event once), and the history of package and set
/// run times. The cursor moves in the same transaction, so a crash repeats
/// a batch and storing by id makes the repeat harmless.
public struct Ingest: Sendable {
    let store: Store
    let configuration: MonitorConfiguration
    let logger: Logger
    let metrics: MonitorMetrics?
    let cases: CaseResultsIngest
    static let sender = MonitorEvent.Sender.this("monitor")

    public init(store: Store, configuration: MonitorConfiguration, logger: Logger, metrics: MonitorMetrics? = nil) {
        self.store = store
        self.configuration = configuration
        self.logger = logger
        self.metrics = metrics
        self.cases = CaseResultsIngest(configuration: configuration, logger: logger)
    }

    /// Handles the next batch; returns how many queue messages it took.
    @discardableResult
    public func next(at now: Date = Date()) async throws -> Int {
        try await store.consume(consumer: configuration.consumer, limit: configuration.batchSize, at: now) { tx, messages in
            var groups: [String: String] = [:]
            var events: [MonitorEvent] = []
            var records: [EventRecord] = []
            // results.stored messages carry their cases beside the event.
            var payloads: [String: String] = [:]
            for message in messages {
                let event = Self.event(from: message)
                if event.type == .resultsStored { payloads[event.id] = message.payload }
                var group: String?
                if let testrunID = event.testrunID {
                    if groups[testrunID] == nil {
                        groups[testrunID] = try await tx.testrun(id: testrunID)?.deviceGroup
                    }
                    group = groups[testrunID]
                }
                events.append(event)
                records.append(try Self.record(event, sequence: message.sequence, deviceGroup: group))
            }
            // Stored once by id: a batch handled again changes nothing, and
            // only events stored now count for history and metrics.
            var new = try await tx.storeNewEvents(records)
            // Removing marks it handled: a copy later in the batch is not new.
            var stored: [MonitorEvent] = []
            for event in events where new.remove(event.id) != nil {
                stored.append(event)
                if let metrics {
                    var wait: Duration?
                    if event.type == .taskClaimed, let taskID = event.taskID, let task = try await tx.task(id: taskID),
                        let claimed = task.claimedAt
                    {
                        wait = .milliseconds(Int64(saturating: claimed.timeIntervalSince(task.enqueuedAt) * 1000))
                    }
                    metrics.observe(event, queueWait: wait)
                }
                guard event.type == .packageFinished || event.type == .setFinished, let testrunID = event.testrunID,
                    let package = event.package, let duration = event.durationMs, let verdict = event.verdict,
                    let group = groups[testrunID] ?? nil
                else { continue }
                try await tx.recordHistory([
                    HistoryRecord(
                        package: package, setName: event.type == .setFinished ? event.set : nil, deviceGroup: group,
                        duration: .milliseconds(duration), verdict: verdict, testrunID: testrunID, taskID: event.taskID,
                        finishedAt: event.emittedAt,
                        keepWhole: event.type == .packageFinished && event.details?["keep_whole"] == "true")
                ])
            }
            try await cases.ingest(stored, payloads: payloads, tx: tx, at: now)
        }
    }

    /// A queue message as an event. Every message is a `MonitorEvent`
    /// (the queue's own `queue.dropped` too); one that does not decode
    /// becomes a `queue.notice` of the monitor that says why, so that
    /// nothing on the queue is lost silently.
    static func event(from message: QueueMessage) -> MonitorEvent {
        do {
            return try JSONCoding.decoder().decode(MonitorEvent.self, from: Data(message.payload.utf8))
        } catch {
            var event = MonitorEvent(id: message.eventID, type: "queue.notice", emittedAt: message.appendedAt, sender: sender)
            event.receivedAt = message.appendedAt
            let field = (error as? DecodingError).map { $0.fieldPath.isEmpty ? $0.fieldProblem : "\($0.fieldPath): \($0.fieldProblem)" }
            event.details = [
                "problem": String((field ?? "\(error)").prefix(500)),
                "payload": String(message.payload.prefix(1000)),
            ]
            return event
        }
    }

    static func record(_ event: MonitorEvent, sequence: Int64, deviceGroup: String? = nil) throws -> EventRecord {
        EventRecord(
            id: event.id,
            type: event.type.rawValue,
            emittedAt: event.emittedAt,
            receivedAt: event.receivedAt ?? event.emittedAt,
            testrunID: event.testrunID,
            taskID: event.taskID,
            worker: event.sender.workerID,
            signature: event.error?.signature,
            payload: try JSONCoding.string(event),
            sequence: sequence,
            category: event.error?.category.rawValue,
            durationMs: event.durationMs,
            tryNumber: event.tryNumber,
            deviceGroup: deviceGroup
        )
    }
}
