import Foundation

/// The devices' health over a time window, per instance and per device
/// group (`health` of `GET /api/v1/stats` of the monitor): how available
/// they were, how many tasks they ran between device failures, their
/// health checks, and how long they were bad.
public struct HealthStatistics: Sendable, Hashable, Codable {
    public struct Figures: Sendable, Hashable, Codable {
        /// The instance (absent for a device group's figures).
        public var worker: String?
        public var deviceGroup: String
        /// Its health at the window's end (instances only).
        public var health: Health?
        /// The share of the time observed that it was good and online;
        /// nil when none was observed.
        public var availability: Double?
        /// Seconds of the window it was known to the monitor.
        public var observedSeconds: Double
        /// Seconds it was bad.
        public var badSeconds: Double
        /// Tasks it started, health checks left out.
        public var tasks: Int
        /// Of those, how many failed with a `device` error.
        public var deviceFailures: Int
        /// Tasks per device failure; nil without a device failure.
        public var tasksBetweenDeviceFailures: Double?
        public var healthChecks: Int
        public var healthChecksPassed: Int

        enum CodingKeys: String, CodingKey {
            case worker
            case deviceGroup = "devicegroup"
            case health, availability
            case observedSeconds = "observed_seconds"
            case badSeconds = "bad_seconds"
            case tasks
            case deviceFailures = "device_failures"
            case tasksBetweenDeviceFailures = "tasks_between_device_failures"
            case healthChecks = "health_checks"
            case healthChecksPassed = "health_checks_passed"
        }

        public init(
            worker: String?, deviceGroup: String, health: Health?, availableSeconds: Double, observedSeconds: Double, badSeconds: Double,
            tasks: Int, deviceFailures: Int, healthChecks: Int, healthChecksPassed: Int
        ) {
            self.worker = worker
            self.deviceGroup = deviceGroup
            self.health = health
            self.availability = observedSeconds > 0 ? min(1, availableSeconds / observedSeconds) : nil
            self.observedSeconds = observedSeconds
            self.badSeconds = badSeconds
            self.tasks = tasks
            self.deviceFailures = deviceFailures
            self.tasksBetweenDeviceFailures = deviceFailures > 0 ? Double(tasks) / Double(deviceFailures) : nil
            self.healthChecks = healthChecks
            self.healthChecksPassed = healthChecksPassed
        }
    }

    public var instances: [Figures]
    public var groups: [Figures]

    public init(instances: [Figures], groups: [Figures]) {
        self.instances = instances
        self.groups = groups
    }

    /// What the monitor stored of one instance: its changes of health and
    /// of liveness (those before the window give its state at the start),
    /// and what it did in the window.
    public struct Timeline: Sendable {
        public var worker: String
        public var deviceGroup: String
        /// Times and the health it changed to, in order.
        public var health: [(at: Date, health: Health)]
        /// Times it came online (true) or went offline (false), in order.
        public var liveness: [(at: Date, online: Bool)]
        public var tasks = 0
        public var deviceFailures = 0
        public var healthChecks = 0
        public var healthChecksPassed = 0

        public init(
            worker: String, deviceGroup: String, health: [(at: Date, health: Health)] = [], liveness: [(at: Date, online: Bool)] = []
        ) {
            self.worker = worker
            self.deviceGroup = deviceGroup
            self.health = health
            self.liveness = liveness
        }

        /// Seconds of `since...until` it was observed, good and online, and bad.
        func seconds(since: Date, until: Date) -> (observed: Double, available: Double, bad: Double) {
            // It is observed from its first known health (its registration) on.
            guard let first = health.first?.at, first < until else { return (0, 0, 0) }
            let start = max(since, first)
            var times = [start, until]
            times += health.map(\.at).filter { $0 > start && $0 < until }
            times += liveness.map(\.at).filter { $0 > start && $0 < until }
            times.sort()
            var observed = 0.0
            var available = 0.0
            var bad = 0.0
            for (from, to) in zip(times, times.dropFirst()) where to > from {
                let span = to.timeIntervalSince(from)
                let healthNow = health.last { $0.at <= from }?.health
                let online = liveness.last { $0.at <= from }?.online ?? false
                observed += span
                if healthNow == .good && online { available += span }
                if healthNow == .bad { bad += span }
            }
            return (observed, available, bad)
        }
    }

    /// The figures of each instance, and of each device group (its
    /// instances' time and counts added up), over `since...until`.
    public static func compute(_ timelines: [Timeline], since: Date, until: Date) -> HealthStatistics {
        var instances: [Figures] = []
        var groups: [String: (available: Double, observed: Double, bad: Double, tasks: Int, failures: Int, checks: Int, passed: Int)] = [:]
        for timeline in timelines.sorted(by: { $0.worker < $1.worker }) {
            let time = timeline.seconds(since: since, until: until)
            instances.append(
                Figures(
                    worker: timeline.worker, deviceGroup: timeline.deviceGroup, health: timeline.health.last { $0.at <= until }?.health,
                    availableSeconds: time.available, observedSeconds: time.observed, badSeconds: time.bad, tasks: timeline.tasks,
                    deviceFailures: timeline.deviceFailures, healthChecks: timeline.healthChecks,
                    healthChecksPassed: timeline.healthChecksPassed))
            var group = groups[timeline.deviceGroup] ?? (0, 0, 0, 0, 0, 0, 0)
            group.available += time.available
            group.observed += time.observed
            group.bad += time.bad
            group.tasks += timeline.tasks
            group.failures += timeline.deviceFailures
            group.checks += timeline.healthChecks
            group.passed += timeline.healthChecksPassed
            groups[timeline.deviceGroup] = group
        }
        return HealthStatistics(
            instances: instances,
            groups: groups.sorted { $0.key < $1.key }.map { name, group in
                Figures(
                    worker: nil, deviceGroup: name, health: nil, availableSeconds: group.available, observedSeconds: group.observed,
                    badSeconds: group.bad, tasks: group.tasks, deviceFailures: group.failures, healthChecks: group.checks,
                    healthChecksPassed: group.passed)
            })
    }
}
