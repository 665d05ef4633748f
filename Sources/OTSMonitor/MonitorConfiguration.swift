import Foundation
import OTSCore
import OTSHTTP
import OTSStore

/// How a monitor runs: its database, address, and how it consumes and
/// judges. Filled from defaults, a TOML file, the environment, then flags.
public struct MonitorConfiguration: Sendable, Hashable {
    public var database: DatabaseURL = .defaultURL
    public var host = "127.0.0.1"
    /// 0 picks a free port (the monitor prints the one it got).
    public var port = 8311
    /// The cursor's name: replicas of one monitor share it and never handle
    /// an event twice.
    public var consumer = "monitor"
    /// Who may read the API, the stream, the metrics and the dashboard:
    /// a token with the read scope unless `anonymous_read`.
    public var access = AccessPolicy()
    /// Certificate and key files (PEM): with both, the monitor speaks HTTPS.
    public var tls: TLSFiles?
    /// Events taken from the queue at a time.
    public var batchSize = 500
    /// How often an empty queue is looked at again (seconds).
    public var pollInterval = 0.2
    /// The workers' heartbeat interval (the server's `heartbeat_seconds`).
    public var heartbeatSeconds = LivenessRule.defaultHeartbeatSeconds
    /// Heartbeats a worker may miss before it counts as offline (as the
    /// server's `missed_heartbeats`).
    public var missedHeartbeats = LivenessRule.defaultMissedHeartbeats
    /// Events older than this are dropped from the queue even when unread
    /// (seconds); counted and reported.
    public var retentionSeconds = 7 * 86_400.0
    /// At most this many events wait in the queue.
    public var retentionEvents = 1_000_000
    /// How long the statistics' rollups are kept (days): longer than raw
    /// events, so a year's statistics outlive the events' pruning.
    public var rollupRetentionDays = 400
    /// How long the stored events themselves are kept (days): the
    /// timelines and pages of older testruns go with them.
    public var eventRetentionDays = 90
    /// A case's newest runs on a device group that judge whether it is flaky (N).
    public var flakyRuns = 20
    /// The flip rate from which a case is flaky.
    public var flakyFlipRate = 0.3
    /// The server's URL as a browser reaches it: the dashboard links
    /// results, JUnit and fetched files there, and its operator buttons
    /// send an admin's commands on devices there (none: no links, no
    /// buttons).
    public var serverURL: String?

    /// A receiver of events over HTTP.
    public struct Webhook: Sendable, Hashable {
        public var name: String
        public var url: String
        /// Event types to send, or type prefixes ending in `.`
        /// (`testrun.`); empty sends every event.
        public var types: [String] = []
        /// The key of the `X-OTS-Signature` HMAC-SHA256 header.
        public var secret: String?

        public init(name: String, url: String) {
            self.name = name
            self.url = url
        }

        func wants(_ type: String) -> Bool {
            types.isEmpty || types.contains { $0.hasSuffix(".") ? type.hasPrefix($0) : type == $0 }
        }
    }

    public var webhooks: [Webhook] = []
    /// Whether this replica delivers webhooks and callbacks. Replicas that
    /// do take turns by a lease, so each event is delivered once.
    public var publish = true
    /// The key that signs deliveries to testruns' `callback_url`s.
    public var callbackSecret: String?
    /// The hosts a testrun's `callback_url` may name (a name, an address,
    /// or `*.domain` for every host under it); empty allows any. A
    /// callback to the monitor itself is never delivered.
    public var callbackAllowedHosts: [String] = []
    /// Tries of one delivery before it is set aside as a dead letter.
    public var deliveryAttempts = 5
    /// The first wait before a retry (seconds); it doubles each time.
    public var retrySeconds = 1.0
    /// Longest a request or a step of the queue loop waits for a database
    /// connection before it fails as unavailable (seconds; PostgreSQL).
    public var dbUnavailableSeconds = 5.0
    /// `[email]`: nil sends no mail.
    public var email: Email?

    public init() {}

    /// Reads a TOML file over the defaults; unknown keys are errors.
    public mutating func load(file path: String) throws(ConfigurationError) {
        var reader = try TOMLReader.open(file: path)
        if let value = try reader.string("database") {
            database = try DatabaseURL(configured: value, in: path)
        }
        host = try reader.string("host") ?? host
        port = try reader.int("port", in: 0...65535) ?? port
        consumer = try reader.string("consumer") ?? consumer
        try access.load(&reader)
        tls = try TLSFiles.load(&reader) ?? tls
        try tls?.validate()
        batchSize = try reader.int("batch_size", in: 1...100_000) ?? batchSize
        pollInterval = try reader.seconds("poll_interval") ?? pollInterval
        heartbeatSeconds = try reader.seconds("heartbeat_seconds") ?? heartbeatSeconds
        missedHeartbeats = try reader.int("missed_heartbeats", in: 1...1000) ?? missedHeartbeats
        retentionSeconds = try reader.seconds("retention_seconds") ?? retentionSeconds
        retentionEvents = try reader.int("retention_events", in: 1000...1_000_000_000) ?? retentionEvents
        rollupRetentionDays = try reader.int("rollup_retention_days", in: 1...36_500) ?? rollupRetentionDays
        eventRetentionDays = try reader.int("event_retention_days", in: 1...36_500) ?? eventRetentionDays
        flakyRuns = try reader.int("flaky_runs", in: 2...CaseResultsIngest.stateRuns) ?? flakyRuns
        flakyFlipRate = try reader.number("flaky_flip_rate", in: 0.01...1) ?? flakyFlipRate
        if let url = try reader.string("server_url") {
            guard let components = URLComponents(string: url), ["http", "https"].contains(components.scheme ?? ""), components.host != nil
            else { throw reader.error("server_url", "must be an http or https URL") }
            serverURL = url.hasSuffix("/") ? String(url.dropLast()) : url
        }
        callbackSecret = try reader.string("callback_secret") ?? callbackSecret
        callbackAllowedHosts = try reader.strings("callback_allowed_hosts") ?? callbackAllowedHosts
        if let index = callbackAllowedHosts.firstIndex(where: { $0.isEmpty || $0.contains("/") || $0.containsControlCharacters }) {
            throw reader.error("callback_allowed_hosts", "entry \(index) is not a host name, an address or *.domain")
        }
        publish = try reader.bool("publish") ?? publish
        deliveryAttempts = try reader.int("delivery_attempts", in: 1...100) ?? deliveryAttempts
        retrySeconds = try reader.seconds("retry_seconds") ?? retrySeconds
        dbUnavailableSeconds = try reader.dbUnavailableSeconds() ?? dbUnavailableSeconds
        for (index, table) in (try reader.tables("webhook") ?? []).enumerated() {
            var nested = reader.nested(table, prefix: "webhook[\(index)].")
            guard let name = try nested.string("name"), !name.isEmpty,
                name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) })
            else {
                throw nested.error("name", "required: letters, digits, '-', '_' and '.'")
            }
            guard let url = try nested.string("url"), let components = URLComponents(string: url),
                ["http", "https"].contains(components.scheme ?? ""), components.host != nil
            else {
                throw nested.error("url", "required: an http or https URL")
            }
            var webhook = Webhook(name: name, url: url)
            webhook.types = try nested.strings("types") ?? []
            webhook.secret = try nested.string("secret")
            try nested.rejectUnknownKeys()
            guard !webhooks.contains(where: { $0.name == name }) else {
                throw ConfigurationError(file: path, "webhook[\(index)].name: '\(name)' is used twice")
            }
            webhooks.append(webhook)
        }
        if let table = try reader.table("email") {
            var nested = reader.nested(table, prefix: "email.")
            var email = Email()
            try email.load(&nested)
            self.email = email
        }
        try reader.rejectUnknownKeys()
    }

    /// Applies `OTS_DATABASE`, `OTS_MONITOR_HOST` and `OTS_MONITOR_PORT`.
    public mutating func load(environment: [String: String]) throws(ConfigurationError) {
        let environment = ConfigurationEnvironment(environment)
        if let value = environment["OTS_DATABASE"] { database = try DatabaseURL(configured: value, in: "OTS_DATABASE") }
        host = environment["OTS_MONITOR_HOST"] ?? host
        port = try environment.port("OTS_MONITOR_PORT") ?? port
    }

    /// Why a testrun's callback URL may not be delivered to; nil when it may.
    func callbackRefusal(_ url: String, own: OwnAddress) -> String? {
        if own.isOwn(url) { return "callback_url \(url.prefix(200)) points at this monitor" }
        guard !callbackAllowedHosts.isEmpty else { return nil }
        let host = OwnAddress.canonical(URLComponents(string: url)?.host ?? "")
        let allowed = callbackAllowedHosts.contains { entry in
            let entry = OwnAddress.canonical(entry)
            if entry.hasPrefix("*.") { return host.hasSuffix(entry.dropFirst()) }
            return host == entry
        }
        return allowed ? nil : "callback_url host '\(host.prefix(200))' is not in callback_allowed_hosts"
    }

    /// The rollups' buckets and how long each is kept.
    public var rollupSpans: RollupSpans {
        var spans = RollupSpans()
        spans.daysFor = .seconds(rollupRetentionDays * 86_400)
        return spans
    }

    /// When a worker counts as offline.
    public var liveness: LivenessRule { LivenessRule(heartbeatSeconds: heartbeatSeconds, missedHeartbeats: missedHeartbeats) }

    /// How long without a heartbeat makes a worker offline.
    var offlineAfter: TimeInterval { liveness.offlineAfter }
}
