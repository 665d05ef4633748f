/// The properties that choose a device: its group (required), and
/// optionally its name and id. They route tasks to the workers whose devices
/// match.
public struct DeviceProperties: Sendable, Hashable, Codable {
    public var devicegroup: String
    public var devicename: String?
    public var deviceid: String?

    public init(devicegroup: String, devicename: String? = nil, deviceid: String? = nil) {
        self.devicegroup = devicegroup
        self.devicename = devicename
        self.deviceid = deviceid
    }

    /// The routing key of a task that requests these properties: the dotted
    /// join of those given, in order (`group`, `group.name`,
    /// `group.name.id`). A request naming an id must name the device too
    /// (see `problems`).
    public var requestedRoutingKey: String {
        [devicegroup, devicename, devicename == nil ? nil : deviceid].compactMap { $0 }.joined(separator: ".")
    }

    /// The keys a worker instance owning a device with these properties
    /// consumes, most specific first.
    public var consumedRoutingKeys: [String] {
        var keys = [devicegroup]
        if let devicename {
            keys.insert(devicegroup + "." + devicename, at: 0)
            if let deviceid {
                keys.insert(devicegroup + "." + devicename + "." + deviceid, at: 0)
            }
        }
        return keys
    }

    /// Problems with the properties as a request gives them, each naming
    /// its field; empty when they are fine.
    public var problems: [String] {
        var problems: [String] = []
        for (field, value) in [("devicegroup", devicegroup as String?), ("devicename", devicename), ("deviceid", deviceid)] {
            guard let value else { continue }
            if value.isEmpty {
                problems.append("\(field) is empty")
            } else if !value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) {
                problems.append("\(field) '\(value)' may hold only letters, digits, '-' and '_'")
            }
        }
        if deviceid != nil && devicename == nil {
            problems.append("deviceid needs devicename too")
        }
        return problems
    }
}
