import Foundation
import Logging
import OTSCore
import OTSStore
import ServiceLifecycle
import Synchronization

/// The monitor's work, until shutdown: drain the queue batch by batch,
/// and between batches decide liveness and bound the queue.
struct MonitorLoop: Service {
    let ingest: Ingest
    let liveness: Liveness
    let store: Store
    let configuration: MonitorConfiguration
    let logger: Logger
    /// A step that has not returned after this long is logged, once per
    /// period, naming the step: a stuck loop is never silent.
    var stallWarning: Duration = .seconds(30)

    func run() async throws {
        let step = Step()
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await watch(step) }
                await work(step)
                group.cancelAll()
            }
        }
    }

    private func work(_ step: Step) async {
        await buildRollupsIfNeeded(step)
        let clock = ContinuousClock()
        var lastSweep = clock.now - .seconds(3600)
        var lastRetention = clock.now
        var backoff = Backoff(initial: .milliseconds(100))
        var polling = IdlePolling(seconds: configuration.pollInterval)
        while !Task.isCancelled {
            do {
                step.begin("taking a batch of events off the queue", at: clock.now)
                let taken = try await ingest.next()
                backoff.reset()
                if clock.now - lastSweep >= .seconds(1) {
                    step.begin("deciding worker liveness", at: clock.now)
                    try await liveness.sweep()
                    lastSweep = clock.now
                }
                if clock.now - lastRetention >= .seconds(60) {
                    step.begin("applying the queue's retention", at: clock.now)
                    let report = try await store.applyRetention(
                        maxAge: .seconds(configuration.retentionSeconds), maxMessages: configuration.retentionEvents)
                    if report.dropped > 0 {
                        logger.error("the monitor queue dropped \(report.dropped) unread events (retention)")
                    }
                    step.begin("compacting the statistics' rollups", at: clock.now)
                    let spans = configuration.rollupSpans
                    try await store.transaction { tx in try await tx.compactRollups(spans: spans, at: Date()) }
                    step.begin("pruning stored events past event_retention_days", at: clock.now)
                    let before = Date().addingTimeInterval(-Double(configuration.eventRetentionDays) * 86_400)
                    let pruned = try await store.transaction { tx in try await tx.pruneEvents(before: before) }
                    if pruned > 0 { logger.info("pruned \(pruned) stored events older than \(configuration.eventRetentionDays) days") }
                    lastRetention = clock.now
                }
                step.end()
                if taken < configuration.batchSize {
                    try? await Task.sleep(for: polling.wait(found: taken))
                }
            } catch {
                step.end()
                if Task.isCancelled { break }
                let wait = backoff.next()
                logger.error("monitor: \(error); trying again in \(wait)")
                try? await Task.sleep(for: wait)
            }
        }
    }

    /// Builds the statistics' rollups before the first batch when they are
    /// missing or a rebuild was left unfinished, saying so as it goes.
    private func buildRollupsIfNeeded(_ step: Step) async {
        let rebuild = RollupRebuild(store: store, logger: logger)
        var backoff = Backoff(initial: .milliseconds(100))
        while !Task.isCancelled {
            do {
                step.begin("building the statistics' rollups from the stored events", at: .now)
                let logger = self.logger
                let reported = Mutex(-1)
                try await rebuild.runIfNeeded { done, total in
                    let tenth = total > 0 ? done * 10 / total : 10
                    if reported.withLock({ last in
                        defer { last = max(last, tenth) }
                        return tenth > last
                    }) {
                        logger.notice("rollups: \(done) of \(total) stored events counted")
                    }
                    step.begin("building the statistics' rollups from the stored events", at: .now)
                }
                step.end()
                return
            } catch {
                step.end()
                if Task.isCancelled { return }
                let wait = backoff.next()
                logger.error("monitor: building the rollups: \(error); trying again in \(wait)")
                try? await Task.sleep(for: wait)
            }
        }
    }

    private func watch(_ step: Step) async {
        let period = stallWarning
        while !Task.isCancelled {
            try? await Task.sleep(for: period / 6)
            if let (name, elapsed) = step.overdue(after: period, at: .now) {
                logger.warning(
                    "the monitor has been \(name) for \(elapsed.formatted(.units(allowed: [.seconds], width: .narrow))) without an answer from the database"
                )
            }
        }
    }

    /// The step under way and since when; read by the watchdog. The time
    /// is given, not read, so that its decisions are tested without waiting.
    final class Step: Sendable {
        private struct State {
            var name: String?
            var since: ContinuousClock.Instant
            var reported: ContinuousClock.Instant
        }
        private let state = Mutex(State(name: nil, since: .now, reported: .now))

        /// Begins the step `name` at `now`.
        func begin(_ name: String, at now: ContinuousClock.Instant) {
            state.withLock { $0 = State(name: name, since: now, reported: now) }
        }

        func end() {
            state.withLock { $0.name = nil }
        }

        /// The step's name and age at `now`, when it has run `period` since
        /// it began or was last reported.
        func overdue(after period: Duration, at now: ContinuousClock.Instant) -> (String, Duration)? {
            state.withLock { state in
                guard let name = state.name, now - state.reported >= period else { return nil }
                state.reported = now
                return (name, now - state.since)
            }
        }
    }
}
