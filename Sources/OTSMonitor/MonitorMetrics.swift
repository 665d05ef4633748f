import Foundation
import OTSCore
import OTSStore
import Prometheus
import Synchronization

/// The monitor's Prometheus metrics. Counters and histograms count the
/// events this monitor stored (so replicas add up, and a restart starts
/// them again, as Prometheus expects); gauges are read from the store when
/// scraped.
public final class MonitorMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    private let testruns: [Verdict: Counter]
    private let attempts: [String: Counter]
    private let phases: [String: DurationHistogram]
    private let tasksQueued: Gauge
    private let oldestQueued: Gauge
    private let workers: [String: Gauge]
    private let devices: [Health: Gauge]
    private let lag: Gauge
    private let backlog: Gauge
    private let dropped: Counter
    private let refused: [String: Counter]
    private let droppedSeen = Mutex(0)
    private let mails: [EventType: Counter]
    private let mailsPending: Gauge

    static let phaseBuckets: [Duration] = [
        .milliseconds(100), .milliseconds(500), .seconds(1), .seconds(5), .seconds(15), .seconds(30), .seconds(60), .seconds(120),
        .seconds(300), .seconds(600), .seconds(1800), .seconds(3600),
    ]

    public init() {
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        func name(_ metric: String, _ unit: String = "", _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "ots", metricName: metric, unitName: unit, helpText: help)
        }
        testruns = Dictionary(
            uniqueKeysWithValues: Verdict.allCases.map {
                (
                    $0,
                    registry.makeCounter(
                        descriptor: name("testruns", "total", "Testruns finished, by verdict."), labels: [("verdict", $0.rawValue)])
                )
            })
        var attempts: [String: Counter] = [:]
        for phase in ["flash", "boot"] {
            for outcome in ["ok", "failed"] {
                attempts[phase + "." + outcome] = registry.makeCounter(
                    descriptor: name("attempts", "total", "Tries of device phases, by phase and outcome."),
                    labels: [("phase", phase), ("outcome", outcome)])
            }
        }
        self.attempts = attempts
        phases = Dictionary(
            uniqueKeysWithValues: ["queue_wait", "flash", "boot", "test"].map {
                (
                    $0,
                    registry.makeDurationHistogram(
                        descriptor: name("phase_duration", "seconds", "How long phases took: queue wait, flash, boot, test."),
                        labels: [("phase", $0)], buckets: Self.phaseBuckets)
                )
            })
        tasksQueued = registry.makeGauge(descriptor: name("tasks_queued", "", "Tasks waiting for a worker."), labels: [])
        oldestQueued = registry.makeGauge(
            descriptor: name("queue_oldest_age", "seconds", "How long the oldest waiting task has waited."), labels: [])
        workers = Dictionary(
            uniqueKeysWithValues: ["online", "busy", "free", "spool_full", "offline"].map {
                ($0, registry.makeGauge(descriptor: name("workers", "", "Worker instances, by state."), labels: [("state", $0)]))
            })
        devices = Dictionary(
            uniqueKeysWithValues: Health.allCases.map {
                (
                    $0,
                    registry.makeGauge(
                        descriptor: name("devices", "", "Worker instances, by the health the monitor last heard of."),
                        labels: [("health", $0.rawValue)])
                )
            })
        lag = registry.makeGauge(descriptor: name("monitor_lag", "seconds", "How long the oldest unread event has waited."), labels: [])
        backlog = registry.makeGauge(descriptor: name("monitor_backlog_events", "", "Events the monitor has not read yet."), labels: [])
        refused = Dictionary(
            uniqueKeysWithValues: ["type", "sender", "task", "attempt", "package"].map {
                (
                    $0,
                    registry.makeCounter(
                        descriptor: name("events_refused", "total", "Worker event batches the server refused, by the rule they broke."),
                        labels: [("reason", $0)])
                )
            })
        dropped = registry.makeCounter(
            descriptor: name("events_dropped", "total", "Events the queue's retention dropped before the monitor read them."), labels: [])
        mails = Dictionary(
            uniqueKeysWithValues: [(EventType.mailSent, "sent"), (.mailFailed, "failed"), (.mailDeadLettered, "dead_lettered")].map {
                (
                    $0.0,
                    registry.makeCounter(
                        descriptor: name("mails", "total", "Tries of testruns' e-mails to their notify lists, by outcome."),
                        labels: [("outcome", $0.1)])
                )
            })
        mailsPending = registry.makeGauge(descriptor: name("mails_pending", "", "Testruns' e-mails waiting to be sent."), labels: [])
    }

    /// Counts an event this monitor stored for the first time.
    func observe(_ event: MonitorEvent) {
        switch event.type {
        case .testrunFinished:
            // Health checks are the farm's own testruns, not the farm's verdicts.
            if event.healthCheckOf == nil, let verdict = event.verdict.flatMap(Verdict.init(rawValue:)) { testruns[verdict]?.increment() }
        case .flashFinished, .bootFinished:
            let phase = event.type == .flashFinished ? "flash" : "boot"
            attempts[phase + "." + (event.outcome == "ok" ? "ok" : "failed")]?.increment()
            if let duration = event.durationMs { phases[phase]?.record(.milliseconds(duration)) }
        case .packageFinished:
            if let duration = event.durationMs { phases["test"]?.record(.milliseconds(duration)) }
        case .taskClaimed:
            if let wait = event.durationMs { phases["queue_wait"]?.record(.milliseconds(wait)) }
        case .workerRefused:
            if let reason = event.details?["reason"] { refused[reason]?.increment() }
        case .mailSent, .mailFailed, .mailDeadLettered:
            mails[event.type]?.increment()
        default:
            break
        }
    }

    /// The metrics in Prometheus's text format, with the gauges read now.
    func exposition(store: Store, consumer: String, at now: Date = Date()) async throws -> [UInt8] {
        let (queued, oldest, states, pendingMails, health) = try await store.read { tx in
            (
                try await tx.queuedTasks(), try await tx.oldestQueuedTask(), try await tx.workers().map(\.state),
                try await tx.mailCounts()[.pending] ?? 0,
                try await tx.latestHealthEvents().values.compactMap { $0.healthChange?.to }
            )
        }
        for (value, gauge) in devices {
            gauge.set(Double(health.filter { $0 == value }.count))
        }
        mailsPending.set(Double(pendingMails))
        tasksQueued.set(Double(queued))
        oldestQueued.set(oldest.map { max(0, now.timeIntervalSince($0)) } ?? 0)
        for (state, gauge) in workers {
            gauge.set(Double(states.filter { $0 == state }.count))
        }
        let status = try await store.backlog(consumer: consumer)
        backlog.set(Double(status.count))
        lag.set(status.oldest.map { max(0, now.timeIntervalSince($0)) } ?? 0)
        let total = try await store.counter("dropped")
        let increase = droppedSeen.withLock { seen -> Int in
            defer { seen = max(seen, total) }
            return max(0, total - seen)
        }
        if increase > 0 { dropped.increment(by: Int64(increase)) }
        return registry.emitToBuffer()
    }
}
