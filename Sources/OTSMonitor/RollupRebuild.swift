import Foundation
import Logging
import OTSCore
import OTSStore

/// Recomputes the statistics' rollups from the stored events: after an
/// upgrade that changes them, a restore, or on a database whose rollups
/// were never built (an older monitor's). The rollups from the start of
/// the day of `since` on are removed and made again from the events stored
/// until then, page by page, each page in its own transaction with its
/// place, so that an interrupted rebuild goes on where it stopped. Events
/// the monitor stores meanwhile are counted by the ingest as usual.
public struct RollupRebuild: Sendable {
    let store: Store
    let logger: Logger
    /// Events per transaction.
    var pageSize = 5000

    public init(store: Store, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    /// Where a rebuild is: kept in `rollup_state` while it runs.
    struct Place: Codable {
        var from: Date
        var through: Int64
        var afterReceivedAt: Int64?
        var afterID: String?
        var done: Int
        var total: Int
    }

    static let built = "built"
    static let rebuilding = "rebuild"

    /// Whether the rollups need building: never built, or a rebuild was
    /// left unfinished.
    public func needed() async throws -> Bool {
        try await store.read { tx in
            let built = try await tx.rollupState(Self.built)
            let rebuilding = try await tx.rollupState(Self.rebuilding)
            return built == nil || rebuilding != nil
        }
    }

    /// Builds what `needed` says: resumes an unfinished rebuild, or builds
    /// the rollups of every stored event.
    public func runIfNeeded(progress: @Sendable (Int, Int) -> Void = { _, _ in }) async throws {
        guard try await needed() else { return }
        if try await store.read({ try await $0.rollupState(Self.rebuilding) }) == nil {
            // A new database has nothing to count.
            let empty = try await store.transaction { tx in
                guard try await tx.newestStoredSequence() == 0, try await tx.storedEventCount(from: .distantPast, through: .max) == 0
                else { return false }
                try await tx.setRollupState(Self.built, Date().formatted(.iso8601))
                return true
            }
            if empty { return }
            logger.notice("the statistics' rollups are missing (a database of an older monitor): building them from the stored events")
            try await start(since: nil)
        } else {
            logger.notice("resuming the rebuild of the statistics' rollups")
        }
        try await resume(progress: progress)
    }

    /// Rebuilds the rollups from the start of the day that holds `since`
    /// (from the first stored event without it); returns the events counted.
    @discardableResult
    public func run(since: Date?, progress: @Sendable (Int, Int) -> Void = { _, _ in }) async throws -> Int {
        try await start(since: since)
        return try await resume(progress: progress)
    }

    private func start(since: Date?) async throws {
        try await store.transaction { tx in
            let from = try await tx.clearRollups(since: since) ?? Date(timeIntervalSince1970: 0)
            let through = try await tx.newestStoredSequence()
            let total = try await tx.storedEventCount(from: from, through: through)
            try await tx.setRollupState(
                Self.rebuilding, try JSONCoding.string(Place(from: from, through: through, done: 0, total: total)))
        }
    }

    @discardableResult
    private func resume(progress: @Sendable (Int, Int) -> Void) async throws -> Int {
        while true {
            let (place, finished) = try await store.transaction { tx -> (Place?, Bool) in
                guard let text = try await tx.rollupState(Self.rebuilding) else { return (nil, true) }
                var place = try JSONCoding.decoder().decode(Place.self, from: Data(text.utf8))
                let page = try await tx.storedEvents(
                    from: place.from, through: place.through,
                    after: place.afterReceivedAt.map { ($0, place.afterID ?? "") }, limit: pageSize)
                guard let last = page.last else {
                    try await tx.setRollupState(Self.rebuilding, nil)
                    try await tx.setRollupState(Self.built, Date().formatted(.iso8601))
                    return (place, true)
                }
                let events = page.compactMap { try? JSONCoding.decoder().decode(MonitorEvent.self, from: Data($0.payload.utf8)) }
                let testruns = try await tx.monitorTestruns(ids: Set(events.compactMap(\.testrunID)))
                var rollup = Rollup()
                for event in events {
                    RollupRules.add(event, testrun: event.testrunID.flatMap { testruns[$0] }, to: &rollup)
                }
                try await tx.lockRollups()
                try await tx.add(rollup)
                place.afterReceivedAt = last.receivedAt
                place.afterID = last.id
                place.done += page.count
                try await tx.setRollupState(Self.rebuilding, try JSONCoding.string(place))
                return (place, false)
            }
            if let place { progress(place.done, place.total) }
            if finished { return place?.done ?? 0 }
        }
    }
}
