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
        var stored: [MonitorEvent] = []
        // Decoded before the write transaction: a writer others wait for
        // does not decode.
        let taken = try await store.consume(
            consumer: configuration.consumer, limit: configuration.batchSize, at: now, prepare: { $0.map(Self.decode) }
        ) { tx, messages, decoded in
            // results.stored messages carry their cases beside the event:
            // those go to the case results, the event alone to the store.
            var cases: [String: String] = [:]
            for (message, item) in zip(messages, decoded) where item.event.type == .resultsStored {
                cases[item.event.id] = message.payload
            }
            // The queue's JSON is stored as it is, unless the message did
            // not decode (then the notice that says so is stored).
            stored = try await Self.store(
                decoded.map(\.event), sequences: messages.map(\.sequence),
                payloads: decoded.map { $0.event.type == .resultsStored ? nil : $0.payload }, tx: tx)
            try await self.cases.ingest(stored, payloads: cases, tx: tx, at: now)
        }
        // Counted once the batch is committed.
        if let metrics {
            for event in stored { metrics.observe(event) }
        }
        return taken
    }

    /// Stores a batch of events in the monitor's own tables: the events
    /// (each once, by id), the testruns they tell of, the history of run
    /// times and the statistics' rollups. Returns the events stored now (a
    /// batch handled again stores and counts none).
    package static func store(_ events: [MonitorEvent], sequences: [Int64], payloads: [String?]? = nil, tx: StoreTransaction)
        async throws -> [MonitorEvent]
    {
        try await tx.recordMonitorTestruns(
            events.filter { $0.type == .testrunRequested }.compactMap { event in
                event.testrunID.map { id in
                    (
                        MonitorTestrun(
                            id: id, deviceGroup: event.details?["devicegroup"], image: event.details?["image"],
                            healthCheck: event.healthCheckOf != nil),
                        RollupRules.time(of: event)
                    )
                }
            })
        let testruns = try await tx.monitorTestruns(ids: Set(events.compactMap(\.testrunID)))
        let records = events.indices.map { index in
            let event = events[index]
            return record(
                event, sequence: sequences[index], deviceGroup: event.testrunID.flatMap { testruns[$0]?.deviceGroup },
                payload: payloads?[index])
        }
        // Stored once by id: a batch handled again changes nothing, and
        // only events stored now count for history and statistics.
        var new = try await tx.storeNewEvents(records)
        var rollup = Rollup()
        var stored: [MonitorEvent] = []
        var history: [HistoryRecord] = []
        // Each testrun's newest state in the batch, written once.
        var states: [String: (state: String, verdict: String?, at: Date)] = [:]
        // Removing marks it handled: a copy later in the batch is not new.
        for event in events where new.remove(event.id) != nil {
            stored.append(event)
            let testrun = event.testrunID.flatMap { testruns[$0] }
            RollupRules.add(event, testrun: testrun, to: &rollup)
            if let testrunID = event.testrunID, let state = Self.testrunState(after: event.type), states[testrunID]?.state != "finished",
                states[testrunID]?.state != "cancelled"
            {
                states[testrunID] = (state, event.verdict ?? states[testrunID]?.verdict, RollupRules.time(of: event))
            }
            guard event.type == .packageFinished || event.type == .setFinished, let testrunID = event.testrunID,
                let package = event.package, let duration = event.durationMs, let verdict = event.verdict,
                let group = testrun?.deviceGroup
            else { continue }
            history.append(
                HistoryRecord(
                    package: package, setName: event.type == .setFinished ? event.set : nil, deviceGroup: group,
                    duration: .milliseconds(duration), verdict: verdict, testrunID: testrunID, taskID: event.taskID,
                    finishedAt: event.emittedAt,
                    keepWhole: event.type == .packageFinished && event.details?["keep_whole"] == "true"))
        }
        for (id, state) in states {
            try await tx.setMonitorTestrunState(id: id, state: state.state, verdict: state.verdict, at: state.at)
        }
        if !history.isEmpty { try await tx.recordHistory(history) }
        if !rollup.isEmpty {
            try await tx.lockRollups()
            try await tx.add(rollup)
        }
        return stored
    }

    /// The state a testrun is in after an event of its own.
    static func testrunState(after type: EventType) -> String? {
        switch type {
        case .testrunStarted: "running"
        case .testrunFinished: "finished"
        case .testrunCancelled: "cancelled"
        default: nil
        }
    }

    /// A queue message as an event. Every message is a `MonitorEvent`
    /// (the queue's own `queue.dropped` too); one that does not decode
    /// becomes a `queue.notice` of the monitor that says why, so that
    /// nothing on the queue is lost silently.
    static func event(from message: QueueMessage) -> MonitorEvent { decode(message).event }

    /// The event of a queue message, and the message's JSON when it is
    /// the event's own (not when it became a notice).
    static func decode(_ message: QueueMessage) -> (event: MonitorEvent, payload: String?) {
        do {
            return (try MonitorEvent.decodeJSON(message.payload), message.payload)
        } catch {
            var event = MonitorEvent(id: message.eventID, type: "queue.notice", emittedAt: message.appendedAt, sender: sender)
            event.receivedAt = message.appendedAt
            let field = (error as? DecodingError).map { $0.fieldPath.isEmpty ? $0.fieldProblem : "\($0.fieldPath): \($0.fieldProblem)" }
            event.details = [
                "problem": String((field ?? "\(error)").prefix(500)),
                "payload": String(message.payload.prefix(1000)),
            ]
            return (event, nil)
        }
    }

    static func record(_ event: MonitorEvent, sequence: Int64, deviceGroup: String? = nil, payload: String? = nil) -> EventRecord {
        EventRecord(
            id: event.id,
            type: event.type.rawValue,
            emittedAt: event.emittedAt,
            receivedAt: event.receivedAt ?? event.emittedAt,
            testrunID: event.testrunID,
            taskID: event.taskID,
            worker: event.sender.workerID,
            signature: event.error?.signature,
            payload: payload ?? event.json,
            sequence: sequence,
            category: event.error?.category.rawValue,
            durationMs: event.durationMs,
            tryNumber: event.tryNumber,
            deviceGroup: deviceGroup
        )
    }
}
