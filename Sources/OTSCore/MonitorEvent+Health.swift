import Foundation

extension MonitorEvent {
    /// The detail that marks the events of a health check's testrun and
    /// task: the worker instance it checks. Statistics of the farm's
    /// verdicts leave these out.
    public static let healthCheckDetail = "health_check"

    /// The instance a health check's event checks; nil for every other event.
    public var healthCheckOf: String? { details?[Self.healthCheckDetail] }

    /// A `device.health.changed` event, in the instance's name: `from`
    /// (absent for a new instance), `to`, `reason`, `evidence` (the tasks
    /// or health checks that caused it, space separated), the device group,
    /// and who asked for it (`by`, an operator's token) when someone did.
    public static func healthChanged(
        from: Health?, to: Health, reason: String, evidence: [String], deviceGroup: String, sender: Sender, by: String? = nil,
        at now: Date = Date()
    ) -> MonitorEvent {
        var event = MonitorEvent(type: .deviceHealthChanged, emittedAt: now, sender: sender)
        var details = [
            "to": to.rawValue, "reason": String(reason.prefix(TestrunRequest.Limits.textLength)),
            "evidence": evidence.prefix(50).joined(separator: " "), "devicegroup": deviceGroup, "worker": sender.workerID,
        ]
        if let from { details["from"] = from.rawValue }
        if let by { details["by"] = by }
        event.details = details
        return event
    }

    /// The health a `device.health.changed` event tells of.
    public var healthChange: (from: Health?, to: Health)? {
        guard type == .deviceHealthChanged, let to = details?["to"].flatMap(Health.init(rawValue:)) else { return nil }
        return (details?["from"].flatMap(Health.init(rawValue:)), to)
    }
}
