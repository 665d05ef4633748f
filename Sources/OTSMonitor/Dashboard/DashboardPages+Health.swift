import Foundation
import OTSCore
import OTSStore

/// The devices' health on the worker page: each instance's health (from
/// the `device.health.changed` events the monitor stored), its figures over
/// the page's window, its changes, and an operator's buttons.
extension DashboardPages {
    struct InstanceHealth {
        var worker: String
        var instance: String
        var health: String
        var since: String
        var reason: String
        var availability: String
        var tasksBetweenFailures: String
        var checks: String
        var badTime: String
        /// The forms of an operator (admin sign-ins only).
        var commands: Commands?
    }

    struct Commands {
        var maintenance: String?
        var online: String?
        var retire: String?
    }

    /// What the worker page reads of its instances' health.
    struct HealthReading: Sendable {
        var latest: [String: MonitorEvent]
        var figures: HealthStatistics
        var changes: [EventRecord]
    }

    struct HealthRow {
        var time: String
        var instance: String
        var from: String
        var to: String
        var reason: String
        var by: String
    }

    /// The path an operator's form posts a command on an instance to.
    static func commandLink(_ workerID: String, _ kind: DeviceCommand.Kind) -> String {
        let parts = workerID.split(separator: "/", maxSplits: 1).map(String.init)
        return "/workers/" + parts.map(DashboardFormat.pathSegment).joined(separator: "/") + "/" + kind.rawValue
    }

    /// The health the monitor last heard of each instance: unknown for one
    /// it has heard nothing of.
    static func health(_ event: MonitorEvent?) -> (health: Health, reason: String, since: Date?) {
        guard let event, let change = event.healthChange else { return (.unknown, "no health heard of", nil) }
        return (change.to, event.details?["reason"] ?? "", event.receivedAt ?? event.emittedAt)
    }

    /// The instances' health, figures and changes, for the worker page.
    func instanceHealth(
        _ instances: [WorkerRecord], latest: [String: MonitorEvent], figures: HealthStatistics, changes: [EventRecord], canOperate: Bool,
        now: Date
    ) -> (instances: [InstanceHealth], changes: [HealthRow]) {
        let byWorker = Dictionary(
            figures.instances.compactMap { figure in figure.worker.map { ($0, figure) } }, uniquingKeysWith: { a, _ in a })
        let rows = instances.sorted { $0.instanceName < $1.instanceName }.map { worker in
            let (health, reason, since) = Self.health(latest[worker.id])
            let figure = byWorker[worker.id]
            var commands: Commands?
            if canOperate {
                commands = Commands(
                    maintenance: health == .maintenance ? nil : Self.commandLink(worker.id, .maintenance),
                    online: health.serves ? nil : Self.commandLink(worker.id, .online),
                    retire: health == .retired ? nil : Self.commandLink(worker.id, .retire))
            }
            return InstanceHealth(
                worker: worker.id, instance: worker.instanceName, health: health.rawValue,
                since: since.map { DashboardFormat.ago($0, now: now) } ?? "-", reason: reason,
                availability: figure?.availability.map(DashboardFormat.percent) ?? "-",
                tasksBetweenFailures: figure.map { value in
                    value.tasksBetweenDeviceFailures.map { String(format: "%.1f", $0) } ?? "\(value.tasks) tasks, no device failure"
                } ?? "-",
                checks: figure.map { "\($0.healthChecksPassed) of \($0.healthChecks) passed" } ?? "-",
                badTime: figure.map { DurationText.seconds($0.badSeconds, coarse: true) } ?? "-",
                commands: commands)
        }
        let history = changes.compactMap { record -> HealthRow? in
            guard let event = try? JSONCoding.decoder().decode(MonitorEvent.self, from: Data(record.payload.utf8)),
                let change = event.healthChange
            else { return nil }
            return HealthRow(
                time: DashboardFormat.time(record.receivedAt), instance: event.sender.instance, from: change.from?.rawValue ?? "-",
                to: change.to.rawValue, reason: event.details?["reason"] ?? "", by: event.details?["by"] ?? "the farm")
        }
        return (rows, history)
    }
}
