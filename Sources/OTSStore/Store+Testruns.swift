import Foundation
import OTSCore
import SQLKit

/// A testrun as the store holds it.
public struct TestrunRecord: Sendable, Hashable {
    public var id: String
    /// The request as submitted (JSON), opaque to the store.
    public var request: String
    public var deviceGroup: String
    public var state: TestrunState
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
    /// The worker instance it is the health check of; nil for every other testrun.
    public var healthCheck: String? = nil
}

extension StoreTransaction {
    static let testrunColumns =
        "id, request, device_group, state, verdict, error_category, error_message, priority, created_at, started_at, finished_at, deadline, plan, health_check"

    public func insertTestrun(
        id: String, request: String, deviceGroup: String, state: TestrunState, priority: Int = 0, at now: Date = Date()
    )
        async throws
    {
        try await db.raw(
            """
            INSERT INTO testruns (id, request, device_group, state, priority, created_at, updated_at)
            VALUES (\(bind: id), \(bind: request), \(bind: deviceGroup), \(bind: state.rawValue), \(bind: priority),
                    \(bind: Clock.millis(now)), \(bind: Clock.millis(now)))
            """
        ).run()
    }

    /// Runs one input through the testrun's lifecycle and writes what it
    /// decides, as one compare-and-set on the state `testrun` shows
    /// (`UPDATE … WHERE id = ? AND state = ?`). This is the only place
    /// that changes a testrun's state.
    public func perform(_ input: TestrunLifecycle.Input, on testrun: TestrunRecord, at now: Date = Date()) async throws
        -> TestrunChange
    {
        var lifecycle = TestrunLifecycle(record: testrun)
        let action = lifecycle.handle(input)
        guard let write = action.write else { return TestrunChange(action: action, lost: false) }
        let millis = Clock.millis(now)
        var query = SQLQueryString("UPDATE testruns SET state = \(bind: action.state.stored.rawValue), updated_at = \(bind: millis)")
        switch write {
        case .start:
            query.appendInterpolation(", started_at = COALESCE(started_at, \(bind: millis))" as SQLQueryString)
        case .end:
            if case .finished(let decision) = action.state {
                query.appendInterpolation(
                    ", verdict = \(bind: decision.verdict.rawValue), error_category = \(bind: decision.errorCategory?.rawValue), error_message = \(bind: decision.message)"
                        as SQLQueryString)
            }
            query.appendInterpolation(", finished_at = \(bind: millis)" as SQLQueryString)
        }
        query.appendInterpolation(
            " WHERE id = \(bind: testrun.id) AND state = \(bind: testrun.state.rawValue) RETURNING id" as SQLQueryString)
        let written = try await !db.raw(query).all().isEmpty
        return TestrunChange(action: action, lost: !written)
    }

    public func testrun(id: String) async throws -> TestrunRecord? {
        try await db.raw("SELECT \(unsafeRaw: Self.testrunColumns) FROM testruns WHERE id = \(bind: id)").first().map(Self.testrun)
    }

    static func testrunState(_ row: any SQLRow) throws -> TestrunState {
        let text = try row.decode(column: "state", as: String.self)
        guard let state = TestrunState(rawValue: text) else {
            throw StoreError(.corrupt, "testrun \((try? row.decode(column: "id", as: String.self)) ?? "?") has the unknown state '\(text)'")
        }
        return state
    }

    static func testrun(_ row: any SQLRow) throws -> TestrunRecord {
        func date(_ column: String) throws -> Date? {
            try row.decode(column: column, as: Int64?.self).map(Clock.date)
        }
        return TestrunRecord(
            id: try row.decode(column: "id", as: String.self),
            request: try row.decode(column: "request", as: String.self),
            deviceGroup: try row.decode(column: "device_group", as: String.self),
            state: try Self.testrunState(row),
            verdict: try row.decode(column: "verdict", as: String?.self),
            errorCategory: try row.decode(column: "error_category", as: String?.self),
            errorMessage: try row.decode(column: "error_message", as: String?.self),
            priority: try row.decode(column: "priority", as: Int.self),
            createdAt: try date("created_at") ?? Date(timeIntervalSince1970: 0),
            startedAt: try date("started_at"),
            finishedAt: try date("finished_at"),
            deadline: try date("deadline"),
            plan: try row.decode(column: "plan", as: String?.self),
            healthCheck: try row.decode(column: "health_check", as: String?.self)
        )
    }
}

/// What `perform` did with a testrun.
public struct TestrunChange: Sendable, Hashable {
    public var action: TestrunLifecycle.Action
    /// The write found the testrun changed since it was read: nothing was
    /// written.
    public var lost: Bool

    public var isWritten: Bool { action.write != nil && !lost }
}

extension TestrunLifecycle {
    /// The lifecycle of a stored testrun.
    public init(record: TestrunRecord) {
        switch record.state {
        case .queued: self.init(state: .queued)
        case .running: self.init(state: .running)
        case .cancelled: self.init(state: .cancelled)
        case .finished:
            self.init(
                state: .finished(
                    VerdictRules.Decision(
                        verdict: record.verdict.flatMap(Verdict.init(rawValue:)) ?? .error,
                        errorCategory: record.errorCategory.flatMap(ErrorCategory.init(rawValue:)),
                        message: record.errorMessage
                    )
                )
            )
        }
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
    /// Hands back tasks whose lease ran out, through their lifecycle:
    /// requeued while they have attempts left (`maxAttempts` claims in
    /// all), failed as `infrastructure` after that. Safe to run from
    /// several replicas.
    public func sweepExpiredLeases(maxAttempts: Int, at now: Date = Date()) async throws -> [(TaskRecord, SweepAction)] {
        try await transaction { tx in
            var handled: [(TaskRecord, SweepAction)] = []
            for task in try await tx.expiredLeases(at: now) {
                let change = try await tx.perform(.leaseExpired, on: task, maxAttempts: maxAttempts, at: now)
                guard change.isWritten else { continue }
                handled.append((change.task, change.action.write == .requeue ? .requeued : .failed))
            }
            return handled
        }
    }
}
