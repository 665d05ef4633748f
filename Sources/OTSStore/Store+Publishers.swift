import Foundation
import OTSCore
import SQLKit

/// A delivery that failed every try, kept for someone to look at.
public struct DeadLetter: Sendable, Hashable {
    public var publisher: String
    public var url: String
    public var eventID: String
    public var payload: String
    public var attempts: Int
    public var error: String
    public var createdAt: Date

    public init(publisher: String, url: String, eventID: String, payload: String, attempts: Int, error: String, createdAt: Date = Date()) {
        self.publisher = publisher
        self.url = url
        self.eventID = eventID
        self.payload = payload
        self.attempts = attempts
        self.error = error
        self.createdAt = createdAt
    }
}

extension StoreTransaction {
    /// How far in the event store a publisher has delivered; nil while it
    /// has no place yet (a new webhook takes the newest event's, a
    /// callback publisher the start). 0 is a place: before every event.
    public func publisherPosition(_ publisher: String) async throws -> Int64? {
        let position = try await db.raw("SELECT position FROM publisher_cursors WHERE publisher = \(bind: publisher)").first()?
            .decode(column: "position", as: Int64.self)
        guard let position, position >= 0 else { return nil }
        return position
    }

    /// Takes or renews the lease of a publisher for `owner`: true when the
    /// owner may publish (nobody else holds an unexpired lease). Replicas of
    /// a monitor take turns this way, so no event is delivered twice.
    public func leasePublisher(_ publisher: String, owner: String, lease: Duration, at now: Date = Date()) async throws -> Bool {
        try await db.raw(
            """
            INSERT INTO publisher_cursors (publisher, position, updated_at) VALUES (\(bind: publisher), -1, \(bind: Clock.millis(now)))
            ON CONFLICT (publisher) DO NOTHING
            """
        ).run()
        let millis = Clock.millis(now)
        return try await !db.raw(
            """
            UPDATE publisher_cursors SET owner = \(bind: owner), lease_until = \(bind: millis + lease.milliseconds)
            WHERE publisher = \(bind: publisher) AND (owner IS NULL OR owner = \(bind: owner) OR lease_until < \(bind: millis))
            RETURNING publisher
            """
        ).all().isEmpty
    }

    public func movePublisher(_ publisher: String, to position: Int64, at now: Date = Date()) async throws {
        try await db.raw(
            """
            INSERT INTO publisher_cursors (publisher, position, updated_at) VALUES (\(bind: publisher), \(bind: position), \(bind: Clock.millis(now)))
            ON CONFLICT (publisher) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at
            """
        ).run()
    }

    public func recordDeadLetter(_ letter: DeadLetter) async throws {
        try await db.raw(
            """
            INSERT INTO dead_letters (publisher, url, event_id, payload, attempts, error, created_at)
            VALUES (\(bind: letter.publisher), \(bind: letter.url), \(bind: letter.eventID), \(bind: letter.payload),
                    \(bind: letter.attempts), \(bind: letter.error), \(bind: Clock.millis(letter.createdAt)))
            """
        ).run()
    }

    public func deadLetters(publisher: String? = nil) async throws -> [DeadLetter] {
        var query = SQLQueryString("SELECT publisher, url, event_id, payload, attempts, error, created_at FROM dead_letters WHERE 1 = 1")
        if let publisher { query.appendInterpolation(" AND publisher = \(bind: publisher)" as SQLQueryString) }
        query.appendInterpolation(unsafeRaw: " ORDER BY id")
        return try await db.raw(query).all().map { row in
            DeadLetter(
                publisher: try row.decode(column: "publisher", as: String.self), url: try row.decode(column: "url", as: String.self),
                eventID: try row.decode(column: "event_id", as: String.self), payload: try row.decode(column: "payload", as: String.self),
                attempts: try row.decode(column: "attempts", as: Int.self), error: try row.decode(column: "error", as: String.self),
                createdAt: Clock.date(try row.decode(column: "created_at", as: Int64.self)))
        }
    }

    /// The newest position in the event store.
    public func lastEventPosition() async throws -> Int64 {
        try await db.raw("SELECT MAX(seq) AS s FROM events").first()?.decode(column: "s", as: Int64?.self) ?? 0
    }
}
