import Foundation
import OTSCore

/// What a batch of events adds to the monitor's rollups, per minute: named
/// counts, durations in histogram slots, and errors by signature, each for
/// the whole farm, its device group and its worker instance. The
/// monitor adds the whole batch in the transaction that stores its events
/// and moves its cursor, so that nothing is counted twice.
///
///     var rollup = Rollup()
///     rollup.count("verdict.PASS", at: now, deviceGroup: "phone")
///     rollup.observe("flash", milliseconds: 41_000, at: now, deviceGroup: "phone", worker: "rack1/dev3")
///     try await tx.add(rollup)
public struct Rollup: Sendable {
    /// Every scope a value is kept for: `*` stands for all device groups or
    /// all workers.
    public static let all = "*"

    struct Key: Hashable, Sendable {
        var bucket: Int64
        var deviceGroup: String
        var worker: String
        var name: String
    }

    struct SlotKey: Hashable, Sendable {
        var key: Key
        var slot: Int
    }

    struct ErrorKey: Hashable, Sendable {
        var bucket: Int64
        var deviceGroup: String
        var worker: String
        var image: String
        var signature: String
    }

    struct ErrorCount: Sendable {
        var category: String
        var count: Int64
        var first: Int64
        var last: Int64
    }

    struct Example: Sendable {
        var category: String
        var message: String
        var at: Int64
    }

    var counts: [Key: Int64] = [:]
    var slots: [SlotKey: Int64] = [:]
    var errors: [ErrorKey: ErrorCount] = [:]
    var examples: [String: Example] = [:]

    public init() {}

    public var isEmpty: Bool { counts.isEmpty && slots.isEmpty && errors.isEmpty }

    /// The minute that holds a moment, as the start of its bucket.
    static func minute(_ date: Date) -> Int64 {
        let millis = Clock.millis(date)
        return millis - ((millis % 60_000) + 60_000) % 60_000
    }

    /// The scopes of one value: the farm, and its group and its worker
    /// where known. A worker's values are its own whatever group asked (a
    /// worker serves one device).
    static func scopes(deviceGroup: String?, worker: String?) -> [(String, String)] {
        var scopes = [(all, all)]
        if let deviceGroup { scopes.append((deviceGroup, all)) }
        if let worker { scopes.append((all, worker)) }
        return scopes
    }

    /// Adds `amount` to a named count.
    public mutating func count(_ name: String, by amount: Int64 = 1, at date: Date, deviceGroup: String?, worker: String? = nil) {
        let bucket = Self.minute(date)
        for (group, worker) in Self.scopes(deviceGroup: deviceGroup, worker: worker) {
            counts[Key(bucket: bucket, deviceGroup: group, worker: worker, name: name), default: 0] += amount
        }
    }

    /// Adds `amount` to a named count in the given scopes only (for a
    /// value that counts for a worker without counting again for the farm).
    public mutating func count(_ name: String, by amount: Int64 = 1, at date: Date, only scopes: [(deviceGroup: String, worker: String)]) {
        let bucket = Self.minute(date)
        for scope in scopes {
            counts[Key(bucket: bucket, deviceGroup: scope.deviceGroup, worker: scope.worker, name: name), default: 0] += amount
        }
    }

    /// Counts a duration of a phase (`flash`, `queue_wait`, `package:NAME`).
    public mutating func observe(_ phase: String, milliseconds: Int64, at date: Date, deviceGroup: String?, worker: String?) {
        let bucket = Self.minute(date)
        let slot = LogHistogram.slot(milliseconds: milliseconds)
        for (group, worker) in Self.scopes(deviceGroup: deviceGroup, worker: worker) {
            slots[SlotKey(key: Key(bucket: bucket, deviceGroup: group, worker: worker, name: phase), slot: slot), default: 0] += 1
        }
    }

    /// Counts an error by its signature, where it struck, and keeps its
    /// newest wording.
    public mutating func failure(
        signature: String, category: String, message: String, image: String?, at date: Date, deviceGroup: String?, worker: String?
    ) {
        let millis = Clock.millis(date)
        let key = ErrorKey(
            bucket: Self.minute(date), deviceGroup: deviceGroup ?? "", worker: worker ?? "", image: image ?? "", signature: signature)
        var value = errors[key] ?? ErrorCount(category: category, count: 0, first: millis, last: millis)
        value.count += 1
        value.first = min(value.first, millis)
        value.last = max(value.last, millis)
        value.category = category
        errors[key] = value
        if (examples[signature]?.at ?? .min) <= millis {
            examples[signature] = Example(category: category, message: String(message.prefix(1000)), at: millis)
        }
    }
}

/// What the rollups say for one scope over a window: the sums of the
/// named counts and the merged histograms of the phases asked for.
public struct RollupTotals: Sendable, Hashable {
    public var counts: [String: Int64]
    public var histograms: [String: LogHistogram]

    public init(counts: [String: Int64] = [:], histograms: [String: LogHistogram] = [:]) {
        self.counts = counts
        self.histograms = histograms
    }

    public subscript(count name: String) -> Int { Int(clamping: counts[name] ?? 0) }
}

/// One error signature over a window, from the rollups.
public struct RollupError: Sendable, Hashable {
    public var signature: String
    public var category: String
    public var count: Int
    public var firstSeen: Date
    public var lastSeen: Date
    public var deviceGroups: [String]
    public var workers: [String]
    public var images: [String]
    public var example: String
}
