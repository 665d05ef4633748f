import Foundation

/// The farm over a time window, as the monitor counts it
/// (`GET /api/v1/stats` of the monitor).
public struct Statistics: Sendable, Hashable, Codable {
    public struct Testruns: Sendable, Hashable, Codable {
        /// Created in the window.
        public var total: Int
        /// Running now.
        public var active: Int
        /// Waiting for workers now.
        public var queued: Int

        public init(total: Int, active: Int, queued: Int) {
            self.total = total
            self.active = active
            self.queued = queued
        }
    }

    /// Worker instances by state, now.
    public struct Workers: Sendable, Hashable, Codable {
        public var online: Int
        public var busy: Int
        public var free: Int
        public var offline: Int

        public init(online: Int, busy: Int, free: Int, offline: Int) {
            self.online = online
            self.busy = busy
            self.free = free
            self.offline = offline
        }
    }

    /// Testruns finished in the window, by verdict, and their shares.
    public struct Verdicts: Sendable, Hashable, Codable {
        public var pass: Int
        public var fail: Int
        public var error: Int
        public var passRatio: Double
        public var failRatio: Double
        public var errorRatio: Double

        enum CodingKeys: String, CodingKey {
            case pass, fail, error
            case passRatio = "pass_ratio"
            case failRatio = "fail_ratio"
            case errorRatio = "error_ratio"
        }

        public init(pass: Int, fail: Int, error: Int) {
            self.pass = pass
            self.fail = fail
            self.error = error
            let total = Double(max(1, pass + fail + error))
            passRatio = Double(pass) / total
            failRatio = Double(fail) / total
            errorRatio = Double(error) / total
        }
    }

    /// One error, however it was worded, and where it struck.
    public struct CommonError: Sendable, Hashable, Codable {
        public var signature: String
        public var category: ErrorCategory?
        public var count: Int
        public var firstSeen: Date
        public var lastSeen: Date
        public var workers: [String]
        public var deviceGroups: [String]
        /// The images of the testruns it struck.
        public var images: [String]
        /// One of the messages, as it was said.
        public var example: String

        enum CodingKeys: String, CodingKey {
            case signature, category, count
            case firstSeen = "first_seen"
            case lastSeen = "last_seen"
            case workers
            case deviceGroups = "device_groups"
            case images
            case example
        }

        public init(
            signature: String, category: ErrorCategory?, count: Int, firstSeen: Date, lastSeen: Date, workers: [String],
            deviceGroups: [String], images: [String] = [], example: String
        ) {
            self.signature = signature
            self.category = category
            self.count = count
            self.firstSeen = firstSeen
            self.lastSeen = lastSeen
            self.workers = workers
            self.deviceGroups = deviceGroups
            self.images = images
            self.example = example
        }
    }

    /// Durations of one phase, in seconds.
    public struct Durations: Sendable, Hashable, Codable {
        public var count: Int
        public var median: Double?
        public var p95: Double?

        public init(seconds: [Double]) {
            let percentiles = Percentiles(seconds)
            count = percentiles.sorted.count
            median = percentiles.median
            p95 = percentiles.percentile(0.95)
        }

        /// From a histogram of milliseconds: the percentiles within its
        /// stated error.
        public init(histogram: LogHistogram) {
            count = Int(clamping: histogram.count)
            median = histogram.percentile(0.5).map { $0 / 1000 }
            p95 = histogram.percentile(0.95).map { $0 / 1000 }
        }
    }

    /// How often a device phase needed more than one try.
    public struct Retries: Sendable, Hashable, Codable {
        /// Phases begun (first tries).
        public var phases: Int
        /// Tries after the first.
        public var retries: Int
        /// Retries per phase.
        public var rate: Double

        public init(phases: Int, retries: Int) {
            self.phases = phases
            self.retries = retries
            rate = Double(retries) / Double(max(1, phases))
        }
    }

    public var since: Date
    public var until: Date
    public var deviceGroup: String?
    public var worker: String?
    public var testruns: Testruns
    public var workers: Workers
    public var verdicts: Verdicts
    public var errorsByCategory: [String: Int]
    /// Failing cases (and flashes and boots that failed every try) by
    /// likely cause: device, image, test, unknown.
    public var errorsByCause: [String: Int]?
    public var commonErrors: [CommonError]
    /// queue_wait, flash, boot, test.
    public var phases: [String: Durations]
    /// flash, boot.
    public var retries: [String: Retries]
    /// The devices' health, per instance and device group.
    public var health: HealthStatistics?

    enum CodingKeys: String, CodingKey {
        case since, until
        case deviceGroup = "devicegroup"
        case worker, testruns, workers, verdicts
        case errorsByCategory = "errors_by_category"
        case errorsByCause = "errors_by_cause"
        case commonErrors = "common_errors"
        case phases, retries, health
    }

    public init(
        since: Date, until: Date, deviceGroup: String?, worker: String?, testruns: Testruns, workers: Workers, verdicts: Verdicts,
        errorsByCategory: [String: Int], commonErrors: [CommonError], phases: [String: Durations], retries: [String: Retries]
    ) {
        self.since = since
        self.until = until
        self.deviceGroup = deviceGroup
        self.worker = worker
        self.testruns = testruns
        self.workers = workers
        self.verdicts = verdicts
        self.errorsByCategory = errorsByCategory
        self.commonErrors = commonErrors
        self.phases = phases
        self.retries = retries
    }
}
