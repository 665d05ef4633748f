import Foundation

/// A worker instance's health as the server's API shows it
/// (`GET /api/v1/devices`).
public struct DeviceHealthView: Sendable, Hashable, Codable {
    /// The end of its last health check.
    public struct LastCheck: Sendable, Hashable, Codable {
        public var testrunID: String
        public var verdict: Verdict
        public var at: Date

        enum CodingKeys: String, CodingKey {
            case testrunID = "testrun_id"
            case verdict, at
        }

        public init(testrunID: String, verdict: Verdict, at: Date) {
            self.testrunID = testrunID
            self.verdict = verdict
            self.at = at
        }
    }

    /// `host/instance`.
    public var workerID: String
    public var device: DeviceProperties
    /// Its liveness: online, free, busy, spool_full or offline.
    public var state: String
    public var health: Health
    public var since: Date
    public var reason: String
    /// The tasks or health checks that caused its health.
    public var evidence: [String]
    /// Health checks failed in a row.
    public var failedChecks: Int
    /// No health check starts before this.
    public var nextCheckAt: Date?
    /// The testrun of the health check under way.
    public var healthCheck: String?
    public var lastCheck: LastCheck?

    enum CodingKeys: String, CodingKey {
        case workerID = "worker_id"
        case device, state, health, since, reason, evidence
        case failedChecks = "failed_checks"
        case nextCheckAt = "next_check_at"
        case healthCheck = "health_check"
        case lastCheck = "last_check"
    }

    public init(
        workerID: String, device: DeviceProperties, state: String, health: Health, since: Date, reason: String, evidence: [String],
        failedChecks: Int, nextCheckAt: Date?, healthCheck: String?, lastCheck: LastCheck?
    ) {
        self.workerID = workerID
        self.device = device
        self.state = state
        self.health = health
        self.since = since
        self.reason = reason
        self.evidence = evidence
        self.failedChecks = failedChecks
        self.nextCheckAt = nextCheckAt
        self.healthCheck = healthCheck
        self.lastCheck = lastCheck
    }
}

/// Every worker instance's health (`GET /api/v1/devices`).
public struct DeviceList: Sendable, Hashable, Codable {
    public var devices: [DeviceHealthView]

    public init(devices: [DeviceHealthView]) {
        self.devices = devices
    }
}

/// An operator's command on a device (`POST /api/v1/devices/{host}/{instance}/maintenance`,
/// `online`, `retire`): why.
public struct DeviceCommand: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        /// Finish the task it holds, then take nothing.
        case maintenance
        /// Take work again (after its health check, when its group has one).
        case online
        /// Out of the farm.
        case retire
    }

    /// Why (required for maintenance).
    public var reason: String?

    public init(reason: String? = nil) {
        self.reason = reason
    }

    /// A problem with the command, naming its field.
    public func problem(for kind: Kind) -> TestrunRequest.Problem? {
        let text = reason?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        if kind == .maintenance && text.isEmpty {
            return .init(field: "reason", message: "required: say why the device goes in maintenance")
        }
        if let reason, reason.count > TestrunRequest.Limits.textLength || reason.containsControlCharacters {
            return .init(field: "reason", message: "at most \(TestrunRequest.Limits.textLength) characters, none a control character")
        }
        return nil
    }
}
