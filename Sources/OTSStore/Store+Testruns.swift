import Foundation
import SQLKit

/// A testrun as the store holds it.
public struct TestrunRecord: Sendable, Hashable {
    public var id: String
    /// The request as submitted (JSON), opaque to the store.
    public var request: String
    public var deviceGroup: String
    public var state: String
    public var verdict: String?
    public var errorCategory: String?
    public var errorMessage: String?
    public var priority: Int
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    /// When the testrun's global timeout ends it.
    public var deadline: Date?
    /// How it was split into tasks (JSON), opaque to the store.
    public var plan: String?
}

extension StoreTransaction {
    static let testrunColumns =
        "id, request, device_group, state, verdict, error_category, error_message, priority, created_at, started_at, finished_at, deadline, plan"

    public func insertTestrun(id: String, request: String, deviceGroup: String, state: String, priority: Int = 0, at now: Date = Date())
        async throws
    {
        try await db.raw(
            """
            INSERT INTO testruns (id, request, device_group, state, priority, created_at, updated_at)
            VALUES (\(bind: id), \(bind: request), \(bind: deviceGroup), \(bind: state), \(bind: priority),
                    \(bind: Clock.millis(now)), \(bind: Clock.millis(now)))
            """
        ).run()
    }

    /// Sets a testrun's state, and its verdict and error when given.
    public func updateTestrun(
        id: String,
        state: String,
        verdict: String? = nil,
        errorCategory: String? = nil,
        errorMessage: String? = nil,
        started: Bool = false,
        finished: Bool = false,
        at now: Date = Date()
    ) async throws {
        let millis = Clock.millis(now)
        let rows = try await db.raw(
            """
            UPDATE testruns SET state = \(bind: state), verdict = COALESCE(\(bind: verdict), verdict),
                error_category = COALESCE(\(bind: errorCategory), error_category),
                error_message = COALESCE(\(bind: errorMessage), error_message),
                started_at = \(unsafeRaw: started ? "COALESCE(started_at, \(millis))" : "started_at"),
                finished_at = \(unsafeRaw: finished ? String(millis) : "finished_at"),
                updated_at = \(bind: millis)
            WHERE id = \(bind: id)
            RETURNING id
            """
        ).all()
        if rows.isEmpty { throw StoreError(.notFound, "no testrun \(id)") }
    }

    public func testrun(id: String) async throws -> TestrunRecord? {
        try await db.raw("SELECT \(unsafeRaw: Self.testrunColumns) FROM testruns WHERE id = \(bind: id)").first().map(Self.testrun)
    }

    static func testrun(_ row: any SQLRow) throws -> TestrunRecord {
        func date(_ column: String) throws -> Date? {
            try row.decode(column: column, as: Int64?.self).map(Clock.date)
        }
        return TestrunRecord(
            id: try row.decode(column: "id", as: String.self),
            request: try row.decode(column: "request", as: String.self),
            deviceGroup: try row.decode(column: "device_group", as: String.self),
            state: try row.decode(column: "state", as: String.self),
            verdict: try row.decode(column: "verdict", as: String?.self),
            errorCategory: try row.decode(column: "error_category", as: String?.self),
            errorMessage: try row.decode(column: "error_message", as: String?.self),
            priority: try row.decode(column: "priority", as: Int.self),
            createdAt: try date("created_at") ?? Date(timeIntervalSince1970: 0),
            startedAt: try date("started_at"),
            finishedAt: try date("finished_at"),
            deadline: try date("deadline"),
            plan: try row.decode(column: "plan", as: String?.self)
        )
    }
}

/// What the lease sweeper did with a task whose worker stopped renewing it.
public enum SweepAction: Sendable, Hashable {
    /// Back in the queue for another worker.
    case requeued
    /// Failed: it had used all its attempts.
    case failed
}

extension Store {
    /// Hands back tasks whose lease ran out: requeued while they have
    /// attempts left (`maxAttempts` claims in all), failed with category
    /// `infrastructure` after that. Safe to run from several replicas.
    public func sweepExpiredLeases(maxAttempts: Int, at now: Date = Date()) async throws -> [(TaskRecord, SweepAction)] {
        try await transaction { tx in
            var handled: [(TaskRecord, SweepAction)] = []
            for task in try await tx.expiredLeases(at: now) {
                if task.attempts < maxAttempts {
                    handled.append((try await tx.requeue(taskID: task.id, at: now), .requeued))
                } else {
                    let failed = try await tx.finish(
                        taskID: task.id,
                        owner: task.owner ?? "",
                        state: .failed,
                        errorCategory: "infrastructure",
                        errorMessage: "the worker \(task.owner ?? "?") stopped renewing its lease after \(task.attempts) attempts",
                        at: now
                    )
                    handled.append((failed, .failed))
                }
            }
            return handled
        }
    }
}
