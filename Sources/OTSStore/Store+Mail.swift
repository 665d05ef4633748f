import Foundation
import OTSCore
import SQLKit

/// A testrun's e-mail to its `notify` list, as the monitor sends it: one
/// row per testrun, so it is sent once however many monitors there are.
public struct MailDelivery: Sendable, Hashable {
    public enum State: String, Sendable, Hashable {
        /// Waiting for its next try.
        case pending
        case sent
        /// Every try failed: kept as a dead letter.
        case dead
    }

    public var testrunID: String
    /// The event that ended the testrun.
    public var eventID: String
    public var recipients: [String]
    public var state: State
    /// Tries made so far.
    public var attempts: Int
    public var nextAt: Date
    public var lastError: String?
    public var createdAt: Date
    public var updatedAt: Date
}

extension StoreTransaction {
    /// Queues a testrun's mail; false when it was queued before (the same
    /// end seen again, or by another replica).
    public func queueMail(testrunID: String, eventID: String, recipients: [String], at now: Date = Date()) async throws -> Bool {
        let millis = Clock.millis(now)
        return try await !db.raw(
            """
            INSERT INTO mail_deliveries (testrun_id, event_id, recipients, state, attempts, next_at, created_at, updated_at)
            VALUES (\(bind: testrunID), \(bind: eventID), \(bind: recipients.joined(separator: ",")), 'pending', 0, \(bind: millis),
                    \(bind: millis), \(bind: millis))
            ON CONFLICT (testrun_id) DO NOTHING RETURNING testrun_id
            """
        ).all().isEmpty
    }

    /// Takes the mail due first for `owner` until `lease` runs out: nobody
    /// else sends it meanwhile. Nil when none is due.
    public func claimMail(owner: String, lease: Duration, at now: Date = Date()) async throws -> MailDelivery? {
        let millis = Clock.millis(now)
        let due = try await db.raw(
            """
            SELECT testrun_id FROM mail_deliveries
            WHERE state = 'pending' AND next_at <= \(bind: millis) AND (lease_until IS NULL OR lease_until < \(bind: millis))
            ORDER BY next_at LIMIT 1
            """
        ).first()
        guard let id = try due?.decode(column: "testrun_id", as: String.self) else { return nil }
        // Compare and set: of two replicas that saw it due, one takes it.
        let rows = try await db.raw(
            """
            UPDATE mail_deliveries SET owner = \(bind: owner), lease_until = \(bind: millis + lease.milliseconds)
            WHERE testrun_id = \(bind: id) AND state = 'pending' AND (lease_until IS NULL OR lease_until < \(bind: millis))
            RETURNING \(unsafeRaw: Self.mailColumns)
            """
        ).all()
        return try rows.first.map(Self.mailDelivery)
    }

    /// Records a try of a mail `owner` holds: sent, failed with a next
    /// try at `retryAt`, or failed for good (`retryAt` nil). False when
    /// the owner no longer held it.
    public func recordMailTry(testrunID: String, owner: String, sent: Bool, error: String? = nil, retryAt: Date?, at now: Date = Date())
        async throws -> Bool
    {
        let state: MailDelivery.State = sent ? .sent : retryAt == nil ? .dead : .pending
        let millis = Clock.millis(now)
        return try await !db.raw(
            """
            UPDATE mail_deliveries SET state = \(bind: state.rawValue), attempts = attempts + 1,
                next_at = \(bind: Clock.millis(retryAt ?? now)), last_error = \(bind: error), owner = NULL, lease_until = NULL,
                updated_at = \(bind: millis)
            WHERE testrun_id = \(bind: testrunID) AND owner = \(bind: owner) AND state = 'pending'
            RETURNING testrun_id
            """
        ).all().isEmpty
    }

    /// When the next pending mail is due; nil when none waits.
    public func nextMailDue() async throws -> Date? {
        try await db.raw("SELECT MIN(next_at) AS due FROM mail_deliveries WHERE state = 'pending'").first()?
            .decode(column: "due", as: Int64?.self).map(Clock.date)
    }

    public func mailDelivery(testrunID: String) async throws -> MailDelivery? {
        try await db.raw("SELECT \(unsafeRaw: Self.mailColumns) FROM mail_deliveries WHERE testrun_id = \(bind: testrunID)").first()
            .map(Self.mailDelivery)
    }

    /// How many mails are in each state.
    public func mailCounts() async throws -> [MailDelivery.State: Int] {
        var counts: [MailDelivery.State: Int] = [:]
        for row in try await db.raw("SELECT state, COUNT(*) AS n FROM mail_deliveries GROUP BY state").all() {
            if let state = MailDelivery.State(rawValue: try row.decode(column: "state", as: String.self)) {
                counts[state] = try row.decode(column: "n", as: Int.self)
            }
        }
        return counts
    }

    static let mailColumns = "testrun_id, event_id, recipients, state, attempts, next_at, last_error, created_at, updated_at"

    static func mailDelivery(_ row: any SQLRow) throws -> MailDelivery {
        MailDelivery(
            testrunID: try row.decode(column: "testrun_id", as: String.self),
            eventID: try row.decode(column: "event_id", as: String.self),
            recipients: try row.decode(column: "recipients", as: String.self).split(separator: ",").map(String.init),
            state: MailDelivery.State(rawValue: try row.decode(column: "state", as: String.self)) ?? .pending,
            attempts: try row.decode(column: "attempts", as: Int.self),
            nextAt: Clock.date(try row.decode(column: "next_at", as: Int64.self)),
            lastError: try row.decode(column: "last_error", as: String?.self),
            createdAt: Clock.date(try row.decode(column: "created_at", as: Int64.self)),
            updatedAt: Clock.date(try row.decode(column: "updated_at", as: Int64.self)))
    }
}
