import Foundation
import OTSCore
import SQLKit

/// A message on the monitor queue.
public struct QueueMessage: Sendable, Hashable {
    /// The position in the queue: increasing, in commit order.
    public var sequence: Int64
    /// The event's own id, which makes consumers idempotent.
    public var eventID: String
    public var appendedAt: Date
    /// The event (JSON), opaque to the store.
    public var payload: String

    public init(sequence: Int64, eventID: String, appendedAt: Date, payload: String) {
        self.sequence = sequence
        self.eventID = eventID
        self.appendedAt = appendedAt
        self.payload = payload
    }
}

/// How far behind a consumer is.
public struct QueueBacklog: Sendable, Hashable {
    /// Messages not yet consumed.
    public var count: Int
    /// When the oldest of them was appended.
    public var oldest: Date?
}

/// What a retention pass removed.
public struct RetentionReport: Sendable, Hashable {
    /// Messages removed that some consumer had not read: lost to it, and
    /// counted in the `dropped` counter.
    public var dropped: Int
    /// Messages removed that every consumer had read.
    public var compacted: Int
}

extension StoreTransaction {
    /// Appends events to the monitor queue, as part of the transaction that
    /// causes them. On PostgreSQL appends take turns (a transaction lock) so
    /// that sequence order is commit order and no consumer skips an event
    /// that commits late.
    public func append(_ events: [(id: String, payload: String)], at now: Date = Date()) async throws {
        guard !events.isEmpty else { return }
        if dialect == .postgres {
            try await db.raw("SELECT pg_advisory_xact_lock(7302)").run()
        }
        // One statement for up to 100 rows: far fewer round trips.
        let appended = Clock.millis(now)
        for start in stride(from: 0, to: events.count, by: 100) {
            var query = SQLQueryString("INSERT INTO monitor_queue (event_id, appended_at, payload) VALUES ")
            for (offset, event) in events[start..<min(start + 100, events.count)].enumerated() {
                if offset > 0 { query.appendInterpolation(unsafeRaw: ", ") }
                let row: SQLQueryString = "(\(bind: event.id), \(bind: appended), \(bind: event.payload))"
                query.appendInterpolation(row)
            }
            try await db.raw(query).run()
        }
    }

    /// The position of a consumer's cursor, locked until the transaction
    /// ends so that another replica of the same consumer waits.
    func lockCursor(_ consumer: String, at now: Date) async throws -> Int64 {
        try await db.raw(
            """
            INSERT INTO queue_cursors (consumer, position, updated_at) VALUES (\(bind: consumer), 0, \(bind: Clock.millis(now)))
            ON CONFLICT (consumer) DO NOTHING
            """
        ).run()
        let row = try await db.raw(
            "SELECT position FROM queue_cursors WHERE consumer = \(bind: consumer)\(unsafeRaw: forUpdate)"
        ).first()
        return try row?.decode(column: "position", as: Int64.self) ?? 0
    }

    func messages(after position: Int64, limit: Int) async throws -> [QueueMessage] {
        try await db.raw(
            """
            SELECT seq, event_id, appended_at, payload FROM monitor_queue
            WHERE seq > \(bind: position) ORDER BY seq LIMIT \(unsafeRaw: String(limit))
            """
        ).all().map { row in
            QueueMessage(
                sequence: try row.decode(column: "seq", as: Int64.self),
                eventID: try row.decode(column: "event_id", as: String.self),
                appendedAt: Clock.date(try row.decode(column: "appended_at", as: Int64.self)),
                payload: try row.decode(column: "payload", as: String.self)
            )
        }
    }

    /// The position of a consumer's cursor without locking it (0 for a
    /// consumer that has none yet).
    func cursorPosition(_ consumer: String) async throws -> Int64 {
        let row = try await db.raw("SELECT position FROM queue_cursors WHERE consumer = \(bind: consumer)").first()
        return try row?.decode(column: "position", as: Int64.self) ?? 0
    }

    /// Whether the messages read earlier are still exactly the ones after
    /// `position`: none of them removed since. A message appended later
    /// comes after them (sequence order is commit order), so the same
    /// count in the same range means the same messages.
    func stillQueued(_ messages: [QueueMessage], after position: Int64) async throws -> Bool {
        guard let last = messages.last else { return true }
        let row = try await db.raw(
            "SELECT COUNT(*) AS n FROM monitor_queue WHERE seq > \(bind: position) AND seq <= \(bind: last.sequence)"
        ).first()
        return try row?.decode(column: "n", as: Int.self) == messages.count
    }

    func moveCursor(_ consumer: String, to position: Int64, at now: Date) async throws {
        try await db.raw(
            "UPDATE queue_cursors SET position = \(bind: position), updated_at = \(bind: Clock.millis(now)) WHERE consumer = \(bind: consumer)"
        ).run()
    }

    /// Adds to a named counter (for example `dropped`).
    func addToCounter(_ name: String, _ amount: Int) async throws {
        try await db.raw(
            """
            INSERT INTO queue_counters (name, value) VALUES (\(bind: name), \(bind: amount))
            ON CONFLICT (name) DO UPDATE SET value = queue_counters.value + \(bind: amount)
            """
        ).run()
    }
}

extension Store {
    /// Consumes the next batch for a named consumer: `handle` gets the
    /// messages after the consumer's cursor, in the same transaction that
    /// moves the cursor past them. When `handle` throws, nothing moves and
    /// the batch comes again. Two replicas of one consumer never get the same
    /// message: the cursor is locked while a batch is handled. Returns how
    /// many messages were handled.
    @discardableResult
    public func consume(
        consumer: String,
        limit: Int = 500,
        at now: Date = Date(),
        _ handle: (StoreTransaction, [QueueMessage]) async throws -> Void
    ) async throws -> Int {
        try await consume(consumer: consumer, limit: limit, at: now, prepare: { _ in () }) { tx, messages, _ in
            try await handle(tx, messages)
        }
    }

    /// Consumes the next batch as above, with the work that needs no
    /// store done before the write transaction: the batch is read and
    /// `prepare`d (decoded, say) outside it, so that a writer that others
    /// wait for does not wait for that work too. In the transaction the
    /// cursor is locked and the batch checked to be still the next one;
    /// when another replica or a retention pass changed it meanwhile, it is
    /// read and prepared again there. An empty queue is found without the
    /// write lock.
    @discardableResult
    public func consume<Prepared: Sendable>(
        consumer: String,
        limit: Int = 500,
        at now: Date = Date(),
        prepare: @Sendable ([QueueMessage]) -> Prepared,
        _ handle: (StoreTransaction, [QueueMessage], Prepared) async throws -> Void
    ) async throws -> Int {
        let (seen, read) = try await self.read { tx in
            let position = try await tx.cursorPosition(consumer)
            return (position, try await tx.messages(after: position, limit: limit))
        }
        guard !read.isEmpty else { return 0 }
        let prepared = prepare(read)
        return try await transaction { tx in
            let position = try await tx.lockCursor(consumer, at: now)
            var batch = read
            var ready = prepared
            var unchanged = position == seen
            if unchanged { unchanged = try await tx.stillQueued(read, after: position) }
            if !unchanged {
                batch = try await tx.messages(after: position, limit: limit)
                ready = prepare(batch)
            }
            guard let last = batch.last else { return 0 }
            try await handle(tx, batch, ready)
            try await tx.moveCursor(consumer, to: last.sequence, at: now)
            return batch.count
        }
    }

    /// The messages a consumer has not consumed yet.
    public func backlog(consumer: String) async throws -> QueueBacklog {
        try await database.withConnection(reading: true) { db in
            let cursor = try await db.raw("SELECT position FROM queue_cursors WHERE consumer = \(bind: consumer)").first()
            let position = try cursor?.decode(column: "position", as: Int64.self) ?? 0
            let row = try await db.raw(
                "SELECT COUNT(*) AS n, MIN(appended_at) AS oldest FROM monitor_queue WHERE seq > \(bind: position)"
            ).first()
            let count = try row?.decode(column: "n", as: Int.self) ?? 0
            let oldest = try row?.decode(column: "oldest", as: Int64?.self).map(Clock.date)
            return QueueBacklog(count: count, oldest: oldest)
        }
    }

    /// The value of a counter (0 when never counted).
    public func counter(_ name: String) async throws -> Int {
        try await database.withConnection(reading: true) { db in
            let row = try await db.raw("SELECT value FROM queue_counters WHERE name = \(bind: name)").first()
            return try row?.decode(column: "value", as: Int.self) ?? 0
        }
    }

    /// Bounds the monitor queue by age and size. Messages every consumer has
    /// read are compacted away; messages that a consumer has not read yet
    /// but are older than `maxAge` or beyond the newest `maxMessages` are
    /// dropped, counted in the `dropped` counter, and reported by a
    /// `queue.dropped` event appended in the same transaction.
    /// The event's sender is the component that applies it.
    public func applyRetention(
        maxAge: Duration, maxMessages: Int, sender: MonitorEvent.Sender = .this("monitor"), at now: Date = Date()
    ) async throws -> RetentionReport {
        try await transaction { tx in
            let db = tx.db
            if tx.dialect == .postgres {
                try await db.raw("SELECT pg_advisory_xact_lock(7302)").run()
                try await db.raw("LOCK TABLE queue_cursors IN SHARE MODE").run()
            }
            let minimum = try await db.raw("SELECT MIN(position) AS p FROM queue_cursors").first()
            let slowest = try minimum?.decode(column: "p", as: Int64?.self) ?? 0
            let newest = try await db.raw("SELECT MAX(seq) AS s FROM monitor_queue").first()
            let last = try newest?.decode(column: "s", as: Int64?.self) ?? 0
            let ageLimit = Clock.millis(now) - maxAge.milliseconds
            let sizeLimit = last - Int64(maxMessages)
            // Everything at or below this position goes.
            let byAge = try await db.raw("SELECT MAX(seq) AS s FROM monitor_queue WHERE appended_at < \(bind: ageLimit)").first()
            let ageCut = try byAge?.decode(column: "s", as: Int64?.self) ?? 0
            let cut = max(slowest, ageCut, sizeLimit)
            guard cut > 0 else { return RetentionReport(dropped: 0, compacted: 0) }
            let droppedRow = try await db.raw(
                "SELECT COUNT(*) AS n FROM monitor_queue WHERE seq > \(bind: slowest) AND seq <= \(bind: cut)"
            ).first()
            let dropped = try droppedRow?.decode(column: "n", as: Int.self) ?? 0
            let removed = try await db.raw("DELETE FROM monitor_queue WHERE seq <= \(bind: cut) RETURNING seq").all().count
            if dropped > 0 {
                try await tx.addToCounter("dropped", dropped)
                // Consumers behind the cut resume after it.
                try await db.raw("UPDATE queue_cursors SET position = \(bind: cut) WHERE position < \(bind: cut)").run()
                let event = MonitorEvent.queueDropped(
                    dropped, throughSequence: cut,
                    reason: "retention (max age \(Int64(maxAge / .seconds(1))) s, max \(maxMessages) events)", sender: sender, at: now)
                try await tx.append([(id: event.id, payload: try JSONCoding.string(event))], at: now)
            }
            return RetentionReport(dropped: dropped, compacted: removed - dropped)
        }
    }
}
