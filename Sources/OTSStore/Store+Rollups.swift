import Foundation
import OTSCore
import SQLKit

/// The bucket sizes of the rollups and how long each is kept before it is
/// folded into the next: minutes for the newest hours, hours for the
/// newest days, days for as long as rollups are kept.
public struct RollupSpans: Sendable, Hashable {
    /// Minute buckets older than this are folded into hours.
    public var minutesFor: Duration = .seconds(2 * 3600)
    /// Hour buckets older than this are folded into days.
    public var hoursFor: Duration = .seconds(3 * 86_400)
    /// Day buckets older than this are removed.
    public var daysFor: Duration = .seconds(400 * 86_400)

    public init() {}

    static let minute: Int64 = 60_000
    static let hour: Int64 = 3_600_000
    static let day: Int64 = 86_400_000
}

/// What a pass of compaction did.
public struct RollupCompaction: Sendable, Hashable {
    /// Rows folded into coarser buckets, and rows removed past retention.
    public var folded = 0
    public var removed = 0

    public init(folded: Int = 0, removed: Int = 0) {
        self.folded = folded
        self.removed = removed
    }
}

extension StoreTransaction {
    /// The largest bucket, for reading windows: a window counts every
    /// bucket it overlaps.
    static let widestBucket = RollupSpans.day

    var least: String { dialect == .postgres ? "LEAST" : "MIN" }
    var greatest: String { dialect == .postgres ? "GREATEST" : "MAX" }

    /// Adds a batch's rollup to the stored one: counts and histogram slots
    /// add up, errors keep their first and last time.
    public func add(_ rollup: Rollup) async throws {
        let counts = Array(rollup.counts)
        for start in stride(from: 0, to: counts.count, by: 200) {
            var query = SQLQueryString("INSERT INTO rollup_counts (device_group, worker, bucket, span, name, value) VALUES ")
            for (offset, (key, value)) in counts[start..<min(start + 200, counts.count)].enumerated() {
                if offset > 0 { query.appendInterpolation(unsafeRaw: ", ") }
                query.appendInterpolation(
                    "(\(bind: key.deviceGroup), \(bind: key.worker), \(bind: key.bucket), 60, \(bind: key.name), \(bind: value))"
                        as SQLQueryString)
            }
            query.appendInterpolation(
                unsafeRaw:
                    " ON CONFLICT (device_group, worker, bucket, span, name) DO UPDATE SET value = rollup_counts.value + excluded.value")
            try await db.raw(query).run()
        }
        let slots = Array(rollup.slots)
        for start in stride(from: 0, to: slots.count, by: 200) {
            var query = SQLQueryString(
                "INSERT INTO rollup_histograms (device_group, worker, phase, bucket, span, slot, count) VALUES ")
            for (offset, (key, value)) in slots[start..<min(start + 200, slots.count)].enumerated() {
                if offset > 0 { query.appendInterpolation(unsafeRaw: ", ") }
                let row: SQLQueryString = """
                    (\(bind: key.key.deviceGroup), \(bind: key.key.worker), \(bind: key.key.name), \(bind: key.key.bucket), 60, \
                    \(bind: key.slot), \(bind: value))
                    """
                query.appendInterpolation(row)
            }
            query.appendInterpolation(
                unsafeRaw:
                    " ON CONFLICT (device_group, worker, phase, bucket, span, slot) DO UPDATE SET count = rollup_histograms.count + excluded.count"
            )
            try await db.raw(query).run()
        }
        let errors = Array(rollup.errors)
        for start in stride(from: 0, to: errors.count, by: 100) {
            var query = SQLQueryString(
                "INSERT INTO rollup_errors (signature, bucket, span, device_group, worker, image, category, count, first_seen, last_seen) VALUES "
            )
            for (offset, (key, value)) in errors[start..<min(start + 100, errors.count)].enumerated() {
                if offset > 0 { query.appendInterpolation(unsafeRaw: ", ") }
                let row: SQLQueryString = """
                    (\(bind: key.signature), \(bind: key.bucket), 60, \(bind: key.deviceGroup), \(bind: key.worker), \(bind: key.image), \
                    \(bind: value.category), \(bind: value.count), \(bind: value.first), \(bind: value.last))
                    """
                query.appendInterpolation(row)
            }
            query.appendInterpolation(unsafeRaw: Self.errorUpsert(least: least, greatest: greatest))
            try await db.raw(query).run()
        }
        for (signature, example) in rollup.examples {
            try await db.raw(
                """
                INSERT INTO error_examples (signature, category, message, seen_at)
                VALUES (\(bind: signature), \(bind: example.category), \(bind: example.message), \(bind: example.at))
                ON CONFLICT (signature) DO UPDATE SET category = excluded.category, message = excluded.message, seen_at = excluded.seen_at
                WHERE excluded.seen_at >= error_examples.seen_at
                """
            ).run()
        }
    }

    static func errorUpsert(least: String, greatest: String) -> String {
        """
         ON CONFLICT (signature, bucket, span, device_group, worker, image) DO UPDATE SET
           count = rollup_errors.count + excluded.count, category = excluded.category,
           first_seen = \(least)(rollup_errors.first_seen, excluded.first_seen),
           last_seen = \(greatest)(rollup_errors.last_seen, excluded.last_seen)
        """
    }

    /// Folds minute buckets older than the spans keep into hours, hours
    /// into days, and removes days past retention. Takes the rollups'
    /// lock first, so that it never runs beside a batch being added (on
    /// PostgreSQL) or another replica's compaction.
    public func compactRollups(spans: RollupSpans = RollupSpans(), at now: Date) async throws -> RollupCompaction {
        try await lockRollups()
        var report = RollupCompaction()
        let millis = Clock.millis(now)
        let steps: [(from: Int64, to: Int64, before: Int64)] = [
            (RollupSpans.minute, RollupSpans.hour, millis - spans.minutesFor.milliseconds),
            (RollupSpans.hour, RollupSpans.day, millis - spans.hoursFor.milliseconds),
        ]
        for step in steps {
            let fromSpan = step.from / 1000
            let toSpan = step.to / 1000
            // Only whole coarser buckets: one that began before the cut.
            let cut = step.before - ((step.before % step.to) + step.to) % step.to
            let bucket = "bucket - (bucket % \(step.to))"
            try await db.raw(
                """
                INSERT INTO rollup_counts (device_group, worker, bucket, span, name, value)
                SELECT device_group, worker, \(unsafeRaw: bucket), \(unsafeRaw: String(toSpan)), name, SUM(value) FROM rollup_counts
                WHERE span = \(unsafeRaw: String(fromSpan)) AND bucket < \(bind: cut)
                GROUP BY device_group, worker, \(unsafeRaw: bucket), name
                ON CONFLICT (device_group, worker, bucket, span, name) DO UPDATE SET value = rollup_counts.value + excluded.value
                """
            ).run()
            try await db.raw(
                """
                INSERT INTO rollup_histograms (device_group, worker, phase, bucket, span, slot, count)
                SELECT device_group, worker, phase, \(unsafeRaw: bucket), \(unsafeRaw: String(toSpan)), slot, SUM(count) FROM rollup_histograms
                WHERE span = \(unsafeRaw: String(fromSpan)) AND bucket < \(bind: cut)
                GROUP BY device_group, worker, phase, \(unsafeRaw: bucket), slot
                ON CONFLICT (device_group, worker, phase, bucket, span, slot) DO UPDATE SET count = rollup_histograms.count + excluded.count
                """
            ).run()
            try await db.raw(
                """
                INSERT INTO rollup_errors (signature, bucket, span, device_group, worker, image, category, count, first_seen, last_seen)
                SELECT signature, \(unsafeRaw: bucket), \(unsafeRaw: String(toSpan)), device_group, worker, image, MAX(category), SUM(count),
                       MIN(first_seen), MAX(last_seen)
                FROM rollup_errors WHERE span = \(unsafeRaw: String(fromSpan)) AND bucket < \(bind: cut)
                GROUP BY signature, \(unsafeRaw: bucket), device_group, worker, image
                \(unsafeRaw: Self.errorUpsert(least: least, greatest: greatest))
                """
            ).run()
            for table in ["rollup_counts", "rollup_histograms", "rollup_errors"] {
                report.folded += try await db.raw(
                    """
                    DELETE FROM \(unsafeRaw: table) WHERE span = \(unsafeRaw: String(fromSpan)) AND bucket < \(bind: cut) RETURNING span
                    """
                ).all().count
            }
        }
        let oldest = millis - spans.daysFor.milliseconds
        for table in ["rollup_counts", "rollup_histograms", "rollup_errors"] {
            report.removed += try await db.raw("DELETE FROM \(unsafeRaw: table) WHERE bucket < \(bind: oldest) RETURNING span").all().count
        }
        try await db.raw("DELETE FROM error_examples WHERE seen_at < \(bind: oldest)").run()
        return report
    }

    /// Makes writers of the rollups take turns on PostgreSQL (SQLite's
    /// write transactions do already): adding a batch and compacting must
    /// not interleave, or a count added between a fold's copy and its
    /// delete would be lost.
    public func lockRollups() async throws {
        if dialect == .postgres {
            try await db.raw("SELECT pg_advisory_xact_lock(7303)").run()
        }
    }

    /// The window's condition on `bucket`: every bucket that overlaps
    /// `since..<until`.
    func overlapping(since: Date, until: Date) -> SQLQueryString {
        let from = Clock.millis(since)
        let to = Clock.millis(until)
        return """
             bucket > \(bind: from - Self.widestBucket) AND bucket < \(bind: to) AND bucket + span * 1000 > \(bind: from)
            """
    }

    /// The counts and the histograms of `phases` for one scope over
    /// `since..<until`: the farm, a device group, or a worker (whose values
    /// are its own, whatever group is given with it).
    public func rollupTotals(deviceGroup: String?, worker: String?, phases: [String], since: Date, until: Date) async throws
        -> RollupTotals
    {
        let group = worker == nil ? deviceGroup ?? Rollup.all : Rollup.all
        let worker = worker ?? Rollup.all
        var totals = RollupTotals()
        var counts = SQLQueryString(
            "SELECT name, CAST(SUM(value) AS BIGINT) AS n FROM rollup_counts WHERE device_group = \(bind: group) AND worker = \(bind: worker) AND"
        )
        counts.appendInterpolation(overlapping(since: since, until: until))
        counts.appendInterpolation(unsafeRaw: " GROUP BY name")
        for row in try await db.raw(counts).all() {
            totals.counts[try row.decode(column: "name", as: String.self)] = try row.decode(column: "n", as: Int64.self)
        }
        guard !phases.isEmpty else { return totals }
        var slots = SQLQueryString(
            """
            SELECT phase, slot, CAST(SUM(count) AS BIGINT) AS n FROM rollup_histograms
            WHERE device_group = \(bind: group) AND worker = \(bind: worker) AND phase IN (\(binds: phases)) AND
            """)
        slots.appendInterpolation(overlapping(since: since, until: until))
        slots.appendInterpolation(unsafeRaw: " GROUP BY phase, slot")
        var histograms: [String: [Int: Int64]] = [:]
        for row in try await db.raw(slots).all() {
            histograms[try row.decode(column: "phase", as: String.self), default: [:]][try row.decode(column: "slot", as: Int.self)] =
                try row.decode(column: "n", as: Int64.self)
        }
        totals.histograms = histograms.mapValues { LogHistogram(slots: $0) }
        return totals
    }

    /// The most common error signatures over `since..<until` (for one
    /// device group or worker when given), most frequent first, with where
    /// they struck and their newest wording.
    public func rollupErrors(
        deviceGroup: String? = nil, worker: String? = nil, signature: String? = nil, since: Date, until: Date, limit: Int
    ) async throws -> [RollupError] {
        var filter = overlapping(since: since, until: until)
        if let deviceGroup { filter.appendInterpolation(" AND device_group = \(bind: deviceGroup)" as SQLQueryString) }
        if let worker { filter.appendInterpolation(" AND worker = \(bind: worker)" as SQLQueryString) }
        if let signature { filter.appendInterpolation(" AND signature = \(bind: signature)" as SQLQueryString) }
        var top = SQLQueryString(
            "SELECT signature, CAST(SUM(count) AS BIGINT) AS n, MIN(first_seen) AS first, MAX(last_seen) AS last FROM rollup_errors WHERE")
        top.appendInterpolation(filter)
        top.appendInterpolation(unsafeRaw: " GROUP BY signature ORDER BY n DESC, signature LIMIT \(max(1, min(limit, 10_000)))")
        var errors: [RollupError] = []
        for row in try await db.raw(top).all() {
            errors.append(
                RollupError(
                    signature: try row.decode(column: "signature", as: String.self), category: "",
                    count: Int(clamping: try row.decode(column: "n", as: Int64.self)),
                    firstSeen: Clock.date(try row.decode(column: "first", as: Int64.self)),
                    lastSeen: Clock.date(try row.decode(column: "last", as: Int64.self)), deviceGroups: [], workers: [], images: [],
                    example: ""))
        }
        guard !errors.isEmpty else { return [] }
        let signatures = errors.map(\.signature)
        var places = SQLQueryString("SELECT DISTINCT signature, device_group, worker, image FROM rollup_errors WHERE")
        places.appendInterpolation(filter)
        places.appendInterpolation(" AND signature IN (\(binds: signatures))" as SQLQueryString)
        var groups: [String: Set<String>] = [:]
        var workers: [String: Set<String>] = [:]
        var images: [String: Set<String>] = [:]
        for row in try await db.raw(places).all() {
            let signature = try row.decode(column: "signature", as: String.self)
            let group = try row.decode(column: "device_group", as: String.self)
            let worker = try row.decode(column: "worker", as: String.self)
            let image = try row.decode(column: "image", as: String.self)
            if !group.isEmpty { groups[signature, default: []].insert(group) }
            if !worker.isEmpty { workers[signature, default: []].insert(worker) }
            if !image.isEmpty { images[signature, default: []].insert(image) }
        }
        var examples: [String: (String, String)] = [:]
        for row in try await db.raw("SELECT signature, category, message FROM error_examples WHERE signature IN (\(binds: signatures))")
            .all()
        {
            examples[try row.decode(column: "signature", as: String.self)] = (
                try row.decode(column: "category", as: String.self), try row.decode(column: "message", as: String.self)
            )
        }
        return errors.map { error in
            var error = error
            error.deviceGroups = groups[error.signature, default: []].sorted()
            error.workers = workers[error.signature, default: []].sorted()
            error.images = images[error.signature, default: []].sorted()
            error.category = examples[error.signature]?.0 ?? ""
            error.example = examples[error.signature]?.1 ?? ""
            return error
        }
    }

    /// Removes the rollups from the start of the day (UTC) that holds
    /// `since` on (all of them without it), for a rebuild from the stored
    /// events; returns that start. Every bucket, of whatever size, lies
    /// wholly before it or wholly after.
    @discardableResult
    public func clearRollups(since: Date?) async throws -> Date? {
        try await lockRollups()
        let from = since.map { date -> Int64 in
            let millis = Clock.millis(date)
            return millis - ((millis % RollupSpans.day) + RollupSpans.day) % RollupSpans.day
        }
        for table in ["rollup_counts", "rollup_histograms", "rollup_errors"] {
            if let from {
                try await db.raw("DELETE FROM \(unsafeRaw: table) WHERE bucket >= \(bind: from)").run()
            } else {
                try await db.raw("DELETE FROM \(unsafeRaw: table)").run()
            }
        }
        return from.map(Clock.date)
    }
}

extension StoreTransaction {
    /// Removes up to `limit` of the stored events received before `before`,
    /// oldest first (the raw events' own retention; the rollups keep their
    /// counts); returns how many went.
    public func pruneEvents(before: Date, limit: Int = 10_000) async throws -> Int {
        try await db.raw(
            """
            DELETE FROM events WHERE id IN (
              SELECT id FROM events WHERE received_at < \(bind: Clock.millis(before)) ORDER BY received_at LIMIT \(unsafeRaw: String(max(1, limit))))
            RETURNING id
            """
        ).all().count
    }

    /// A value the rollups keep about themselves (whether they were built,
    /// a rebuild under way).
    public func rollupState(_ name: String) async throws -> String? {
        try await db.raw("SELECT value FROM rollup_state WHERE name = \(bind: name)").first()?.decode(column: "value", as: String.self)
    }

    public func setRollupState(_ name: String, _ value: String?) async throws {
        if let value {
            try await db.raw(
                """
                INSERT INTO rollup_state (name, value) VALUES (\(bind: name), \(bind: value))
                ON CONFLICT (name) DO UPDATE SET value = excluded.value
                """
            ).run()
        } else {
            try await db.raw("DELETE FROM rollup_state WHERE name = \(bind: name)").run()
        }
    }

    /// The newest queue position of a stored event (0 when none).
    public func newestStoredSequence() async throws -> Int64 {
        try await db.raw("SELECT MAX(seq) AS s FROM events").first()?.decode(column: "s", as: Int64?.self) ?? 0
    }

    /// How many stored events were received from `from` on and were on
    /// the queue no later than `through` (events without a position count).
    public func storedEventCount(from: Date, through: Int64) async throws -> Int {
        try await db.raw(
            """
            SELECT COUNT(*) AS n FROM events
            WHERE received_at >= \(bind: Clock.millis(from)) AND (seq IS NULL OR seq <= \(bind: through))
            """
        ).first()?.decode(column: "n", as: Int.self) ?? 0
    }

    /// Stored events received from `from` on and on the queue no later
    /// than `through`, in time order after the one at `after`: a page of a
    /// rebuild. Each as its stored JSON.
    public func storedEvents(from: Date, through: Int64, after: (receivedAt: Int64, id: String)?, limit: Int) async throws
        -> [(receivedAt: Int64, id: String, payload: String)]
    {
        var query = SQLQueryString(
            """
            SELECT received_at, id, payload FROM events
            WHERE received_at >= \(bind: Clock.millis(from)) AND (seq IS NULL OR seq <= \(bind: through))
            """)
        if let after {
            query.appendInterpolation(
                " AND (received_at > \(bind: after.receivedAt) OR (received_at = \(bind: after.receivedAt) AND id > \(bind: after.id)))"
                    as SQLQueryString)
        }
        query.appendInterpolation(unsafeRaw: " ORDER BY received_at, id LIMIT \(max(1, limit))")
        return try await db.raw(query).all().map {
            (
                try $0.decode(column: "received_at", as: Int64.self), try $0.decode(column: "id", as: String.self),
                try $0.decode(column: "payload", as: String.self)
            )
        }
    }
}
