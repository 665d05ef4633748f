import Foundation
import OTSCore
import OTSStore

/// How a server runs: its database, address and the farm's timing. Filled
/// from defaults, then a TOML file, then environment variables, then flags.
public struct ServerConfiguration: Sendable, Hashable {
    public var database: DatabaseURL = .defaultURL
    public var host = "127.0.0.1"
    /// 0 picks a free port (the server prints the one it got).
    public var port = 8310
    /// Who may use the API: tokens with scopes (the default), and whether
    /// reading is open to anyone.
    public var access = AccessPolicy()
    /// The secret a worker instance enrolls with (`Authorization: Bearer
    /// SECRET` on `POST /api/v1/workers`); it gets a token of its own back.
    public var enrollmentSecret: String?
    /// The XML-RPC interface of the original OTS needs no token (for a
    /// closed lab network, where unmodified clients send none).
    public var anonymousSubmit = false
    /// Requests with host packages or test definitions by URL (which run
    /// commands on a worker host) need the `submit-host` scope.
    public var requireHostScope = false
    /// Certificate and key files (PEM): with both, the server speaks HTTPS.
    public var tls: TLSFiles?
    /// Largest JSON request body (bytes).
    public var maxRequestBytes = 4 * 1024 * 1024
    /// Largest results XML of one package (bytes).
    public var maxResultsBytes = 64 * 1024 * 1024
    /// Largest file fetched from a device (bytes).
    public var maxFileBytes = 256 * 1024 * 1024
    /// Seconds a worker's claim lasts without a heartbeat.
    public var leaseSeconds = 30.0
    /// Seconds between a worker's heartbeats (told to workers).
    public var heartbeatSeconds = LivenessRule.defaultHeartbeatSeconds
    /// Heartbeats a worker may miss before it counts as offline: the
    /// history model plans only for workers that are not (as the
    /// monitor's `missed_heartbeats`).
    public var missedHeartbeats = LivenessRule.defaultMissedHeartbeats
    /// How often a task whose worker vanished is put back in the queue
    /// before it fails.
    public var requeues = 1
    /// Seconds a task may wait for a worker.
    public var queueTimeout = 3600.0
    /// Seconds a task may run once claimed.
    public var executionTimeout = 4 * 3600.0
    /// Seconds a testrun may take when its request gives no timeout.
    public var testrunTimeout = 24 * 3600
    /// Seconds between sweeps for expired leases and timeouts.
    public var sweepInterval = 1.0
    /// Longest a claim waits for a task (seconds).
    public var claimWait = 20.0
    /// How often a waiting claim looks for tasks enqueued by other server
    /// replicas (seconds).
    public var claimPoll = 0.5
    /// Longest a request waits for a database connection before it
    /// answers 503 (seconds; PostgreSQL).
    public var dbUnavailableSeconds = 5.0
    /// How devices are judged, and each device group's health check.
    public var health = HealthConfiguration()
    /// Refuse (instead of warning about) a testrun that no good or unknown
    /// instance serves.
    public var refuseUnservable = false

    public init() {}

    /// Environment variables that override the file.
    public static let environmentKeys = ["OTS_DATABASE", "OTS_HOST", "OTS_PORT", "OTS_ENROLLMENT_SECRET"]

    /// Reads a TOML file over the defaults.
    public mutating func load(file path: String) throws(ConfigurationError) {
        var reader = try TOMLReader.open(file: path)
        if let value = try reader.string("database") {
            database = try DatabaseURL(configured: value, in: path)
        }
        host = try reader.string("host") ?? host
        port = try reader.int("port", in: 0...65535) ?? port
        try access.load(&reader)
        enrollmentSecret = try reader.string("enrollment_secret") ?? enrollmentSecret
        requireHostScope = try reader.bool("require_host_scope") ?? requireHostScope
        anonymousSubmit = try reader.bool("anonymous_submit") ?? anonymousSubmit
        tls = try TLSFiles.load(&reader) ?? tls
        maxRequestBytes = try reader.int("max_request_bytes", in: 64 * 1024...1 << 30) ?? maxRequestBytes
        maxResultsBytes = try reader.int("max_results_bytes", in: 64 * 1024...1 << 32) ?? maxResultsBytes
        maxFileBytes = try reader.int("max_file_bytes", in: 1024...1 << 34) ?? maxFileBytes
        leaseSeconds = try reader.seconds("lease_seconds") ?? leaseSeconds
        heartbeatSeconds = try reader.seconds("heartbeat_seconds") ?? heartbeatSeconds
        missedHeartbeats = try reader.int("missed_heartbeats", in: 1...1000) ?? missedHeartbeats
        requeues = try reader.int("requeues", in: 0...100) ?? requeues
        queueTimeout = try reader.seconds("queue_timeout") ?? queueTimeout
        executionTimeout = try reader.seconds("execution_timeout") ?? executionTimeout
        testrunTimeout = try reader.int("testrun_timeout", in: 1...TestrunLimits.maximumTimeout) ?? testrunTimeout
        sweepInterval = try reader.seconds("sweep_interval") ?? sweepInterval
        claimWait = try reader.seconds("claim_wait") ?? claimWait
        claimPoll = try reader.seconds("claim_poll") ?? claimPoll
        dbUnavailableSeconds = try reader.dbUnavailableSeconds() ?? dbUnavailableSeconds
        refuseUnservable = try reader.bool("refuse_unservable") ?? refuseUnservable
        try health.load(&reader)
        try reader.rejectUnknownKeys()
    }

    /// Applies `OTS_DATABASE`, `OTS_HOST`, `OTS_PORT` and
    /// `OTS_ENROLLMENT_SECRET`.
    public mutating func load(environment: [String: String]) throws(ConfigurationError) {
        let environment = ConfigurationEnvironment(environment)
        if let value = environment["OTS_DATABASE"] { database = try DatabaseURL(configured: value, in: "OTS_DATABASE") }
        host = environment["OTS_HOST"] ?? host
        port = try environment.port("OTS_PORT") ?? port
        enrollmentSecret = environment["OTS_ENROLLMENT_SECRET"] ?? enrollmentSecret
    }

    /// Settings that do not fit together.
    public func validate() throws(ConfigurationError) {
        if access.mode == .tokens, enrollmentSecret?.isEmpty ?? true {
            throw ConfigurationError(
                file: "the server's configuration",
                "enrollment_secret: required when auth is \"tokens\" (workers enroll with it); set it in the configuration file or OTS_ENROLLMENT_SECRET, or set auth = \"off\" on a closed network"
            )
        }
        if let secret = enrollmentSecret, secret.count < 16 {
            throw ConfigurationError(file: "the server's configuration", "enrollment_secret: must have at least 16 characters")
        }
        try tls?.validate()
    }

    var maxAttempts: Int { requeues + 1 }

    /// When a worker counts as offline.
    public var liveness: LivenessRule { LivenessRule(heartbeatSeconds: heartbeatSeconds, missedHeartbeats: missedHeartbeats) }
}

enum TestrunLimits {
    static let maximumTimeout = 7 * 86_400
}
