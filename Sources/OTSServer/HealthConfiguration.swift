import Foundation
import OTSCore

/// How the farm judges its devices (`[health]` of the server's
/// configuration) and the health check of each device group
/// (`[health_check.GROUP]`).
public struct HealthConfiguration: Sendable, Hashable {
    /// The thresholds; `hasHealthCheck` is filled per group.
    public var rules = HealthRules()
    /// The health-check request of each device group that has one.
    public var checks: [String: HealthCheck] = [:]

    /// A known-good testrun for a device group: what a device runs to show
    /// it is fit to take work.
    public struct HealthCheck: Sendable, Hashable {
        public var image: String?
        public var imageChecksum: String?
        /// Packages run on the device.
        public var packages: [String] = []
        /// Packages run on the worker host against the device.
        public var hostPackages: [String] = []
        /// Seconds the health check may take.
        public var timeout = 3600

        public init() {}
    }

    public init() {}

    /// The rules for a device of `group`.
    public func rules(for group: String) -> HealthRules {
        var rules = rules
        rules.hasHealthCheck = checks[group] != nil
        return rules
    }

    /// The request of the health check of an instance with `device`; nil
    /// when its group has none.
    public func request(for device: DeviceProperties, workerID: String) -> TestrunRequest? {
        guard let check = checks[device.devicegroup] else { return nil }
        var request = TestrunRequest(device: device, packages: .init(device: check.packages, host: check.hostPackages))
        request.image = check.image
        request.imageChecksum = check.imageChecksum
        request.timeout = check.timeout
        request.distributionModel = "single"
        request.requestor = "health check of \(workerID)"
        return request
    }

    /// Reads `[health]` and `[health_check.GROUP]` tables.
    mutating func load(_ reader: inout TOMLReader) throws(ConfigurationError) {
        if let table = try reader.table("health") {
            var nested = reader.nested(table, prefix: "health.")
            rules.badAfter = try nested.int("bad_after", in: 1...1000) ?? rules.badAfter
            rules.window = try nested.int("window", in: 1...1000) ?? rules.window
            if let rate = try nested.number("bad_rate", in: 0...1) { rules.badRate = rate }
            rules.maxHealthChecks = try nested.int("max_health_checks", in: 1...1000) ?? rules.maxHealthChecks
            rules.backoff = try nested.seconds("health_check_backoff") ?? rules.backoff
            rules.backoffMax = try nested.seconds("health_check_backoff_max") ?? rules.backoffMax
            if rules.backoffMax < rules.backoff {
                throw nested.error("health_check_backoff_max", "must be at least health_check_backoff (\(rules.backoff) s)")
            }
            if let hours = try nested.number("health_check_interval", in: 0...24 * 366) {
                rules.checkInterval = hours > 0 ? hours * 3600 : nil
            }
            if let every = try nested.int("health_check_every", in: 0...1_000_000) { rules.checkEvery = every > 0 ? every : nil }
            try nested.rejectUnknownKeys()
        }
        for (group, table) in try reader.namedTables("health_check") ?? [] {
            if let problem = DeviceProperties(devicegroup: group).problems.first {
                throw reader.error("health_check.\(group)", "not a device group: \(problem)")
            }
            var nested = table
            var check = HealthCheck()
            check.image = try nested.string("image")
            check.imageChecksum = try nested.string("image_checksum")
            check.packages = try nested.strings("packages") ?? []
            check.hostPackages = try nested.strings("host_packages") ?? []
            check.timeout = try nested.int("timeout", in: 1...TestrunRequest.Limits.maximumTimeout) ?? check.timeout
            try nested.rejectUnknownKeys()
            // The request the farm will submit must be one it accepts.
            let request = HealthConfiguration(checks: [group: check]).request(
                for: DeviceProperties(devicegroup: group), workerID: "host/instance")
            if let problem = request?.problems(models: ["single"]).first {
                throw nested.error(problem.field, problem.message)
            }
            checks[group] = check
        }
    }

    init(checks: [String: HealthCheck]) {
        self.checks = checks
    }
}
