import Foundation
import OTSCore

/// A `request_sync` call of the original OTS as an OTS testrun request:
/// its options dictionary read the way the original read it (minutes,
/// comma- or space-separated lists, the device as a string or a dict),
/// with the original's verdict rules. Options with no meaning here are
/// recorded in the notes as ignored; any other option is refused by name.
struct OriginalRequest: Sendable, Hashable {
    var request: TestrunRequest
    /// What the testrun's plan notes say of the options (those ignored).
    var notes: [String]

    /// Options the original accepted that mean nothing here.
    static let ignored: Set<String> = [
        "emmc", "plan", "use_libssh2", "resume", "rootstrap", "flasher", "execute", "gate", "label", "input_plugin", "engine",
    ]

    /// Every option this interface reads.
    static let known: [String] = [
        "image", "packages", "hosttest", "chroottest", "device", "testfilter", "timeout", "distribution_model",
        "target_execution_time", "max_worker_amount", "flasher_options", "email", "email_attachments", "hw_testplans",
        "host_testplans", "build_url", "priority",
    ]

    /// The original's distribution models and OTS's.
    static let models = ["default": "single", "perpackage": "perpackage", "optimized": "history"]

    init(swProduct: String, requestID: String, notify: [String], options: [String: XMLRPCValue]) throws(XMLRPCFault) {
        var request = TestrunRequest(device: DeviceProperties(devicegroup: ""), packages: .init())
        var notes: [String] = []
        request.swProduct = swProduct.isEmpty ? nil : swProduct
        request.requestID = requestID.isEmpty ? nil : requestID
        let recipients = notify.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        request.notify = recipients.isEmpty ? nil : recipients
        request.verdictRules = .original

        for name in options.keys.sorted() where !Self.known.contains(name) {
            if Self.ignored.contains(name) || name.hasPrefix("qa_") {
                notes.append("option \(name) of the original OTS is ignored here")
            } else {
                throw .parameters(
                    "options.\(name.prefix(100)): not an option of request_sync (known: \(Self.known.joined(separator: ", ")); ignored: \(Self.ignored.sorted().joined(separator: ", ")), qa_*)"
                )
            }
        }
        guard let image = try Self.text(options, "image"), !image.isEmpty else {
            throw .parameters("options.image: required (the URL of the image to flash)")
        }
        request.image = image
        request.packages.device = try Self.list(options, "packages")
        request.packages.host = try Self.list(options, "hosttest")
        let chroot = try Self.list(options, "chroottest")
        if !chroot.isEmpty {
            request.packages.host += chroot
            notes.append(
                "chroottest packages (\(chroot.joined(separator: ", "))) run on the worker host, as host packages: no rootstrap chroot is made"
            )
        }
        request.device = try Self.device(options["device"])
        if let filter = try Self.text(options, "testfilter"), !filter.isEmpty {
            // The original quoted the filter itself; a quoted one is the same filter.
            var unquoted = Substring(filter)
            if unquoted.count >= 2, let first = unquoted.first, first == unquoted.last, first == "\"" || first == "'" {
                unquoted = unquoted.dropFirst().dropLast()
            }
            request.testfilter = String(unquoted)
        }
        if let minutes = try Self.number(options, "timeout"), minutes > 0 {
            request.timeout = try Self.seconds(minutes, "timeout")
        }
        if let model = try Self.text(options, "distribution_model"), !model.isEmpty {
            guard let name = Self.models[model] else {
                throw .parameters("options.distribution_model: '\(model.prefix(50))' is not default, perpackage or optimized")
            }
            request.distributionModel = name
        }
        if let minutes = try Self.number(options, "target_execution_time"), minutes > 0 {
            request.targetExecutionTime = try Self.seconds(minutes, "target_execution_time")
        }
        if let amount = try Self.number(options, "max_worker_amount"), amount > 0 { request.maxWorkerAmount = amount }
        if let flasher = try Self.text(options, "flasher_options"), !flasher.isEmpty {
            request.flasherOptions = flasher.split(whereSeparator: \.isWhitespace).map(String.init)
        }
        if let email = try Self.onOff(options, "email") { request.email = email }
        if let attachments = try Self.onOff(options, "email_attachments") { request.emailAttachments = attachments }
        let plans = try Self.testplans(options, "hw_testplans", .device) + Self.testplans(options, "host_testplans", .host)
        if !plans.isEmpty { request.inlineDefinitions = plans }
        if let url = try Self.text(options, "build_url"), !url.isEmpty {
            notes.append("build: " + (url.contains("%s") ? url.replacingOccurrences(of: "%s", with: requestID) : url))
        }
        if let priority = try Self.number(options, "priority") { request.priority = priority }
        self.request = request
        self.notes = notes
    }

    /// A string option (a number is taken as its text).
    static func text(_ options: [String: XMLRPCValue], _ name: String) throws(XMLRPCFault) -> String? {
        switch options[name] {
        case nil, .null: return nil
        case .string(let text): return text.trimmingCharacters(in: .whitespacesAndNewlines)
        case .int(let number): return String(number)
        case let other?: throw .parameters("options.\(name): a string, not \(other.typeName)")
        }
    }

    /// A list option: a comma- or space-separated string, or an array of strings.
    static func list(_ options: [String: XMLRPCValue], _ name: String) throws(XMLRPCFault) -> [String] {
        if case .array(let items)? = options[name] {
            var names: [String] = []
            for item in items {
                guard case .string(let text) = item else {
                    throw .parameters("options.\(name): a list of strings, not of \(item.typeName)")
                }
                names += split(text)
            }
            return names
        }
        return split(try text(options, name) ?? "")
    }

    static func split(_ text: String) -> [String] {
        text.split(whereSeparator: { $0 == "," || $0.isWhitespace }).map(String.init)
    }

    /// A whole number, given as an int or as its text (`ots_trigger -x`
    /// sends every option as a string).
    static func number(_ options: [String: XMLRPCValue], _ name: String) throws(XMLRPCFault) -> Int? {
        switch options[name] {
        case nil, .null: return nil
        case .int(let number): return number
        case .string(let text) where text.trimmingCharacters(in: .whitespaces).isEmpty: return nil
        case .string(let text):
            guard let number = Int(text.trimmingCharacters(in: .whitespaces)) else {
                throw .parameters("options.\(name): '\(text.prefix(50))' is not a whole number")
            }
            return number
        case let other?: throw .parameters("options.\(name): a whole number, not \(other.typeName)")
        }
    }

    /// Minutes as seconds, refused past OTS's longest timeout.
    static func seconds(_ minutes: Int, _ name: String) throws(XMLRPCFault) -> Int {
        let limit = TestrunRequest.Limits.maximumTimeout / 60
        guard minutes <= limit else { throw .parameters("options.\(name): at most \(limit) minutes, not \(minutes)") }
        return minutes * 60
    }

    /// `on` or `off` (a boolean too).
    static func onOff(_ options: [String: XMLRPCValue], _ name: String) throws(XMLRPCFault) -> Bool? {
        if case .bool(let flag)? = options[name] { return flag }
        switch try text(options, name)?.lowercased() {
        case nil, "": return nil
        case "on", "true", "1": return true
        case "off", "false", "0": return false
        case let other?: throw .parameters("options.\(name): on or off, not '\(other.prefix(50))'")
        }
    }

    /// The device: a dict, or the original's string `devicegroup:x devicename:y deviceid:z`.
    static func device(_ value: XMLRPCValue?) throws(XMLRPCFault) -> DeviceProperties {
        var pairs: [(String, String)] = []
        switch value {
        case nil, .null:
            break
        case .string(let text):
            for word in text.split(whereSeparator: \.isWhitespace) {
                let parts = word.split(separator: ":", maxSplits: 1)
                guard parts.count == 2 else {
                    throw .parameters("options.device: '\(word.prefix(50))' is not key:value (devicegroup:x devicename:y deviceid:z)")
                }
                pairs.append((String(parts[0]), String(parts[1])))
            }
        case .structure(let members):
            for (key, member) in members.sorted(by: { $0.key < $1.key }) {
                guard case .string(let text) = member else {
                    throw .parameters("options.device.\(key.prefix(50)): a string, not \(member.typeName)")
                }
                pairs.append((key, text))
            }
        case let other?:
            throw .parameters("options.device: a string or a struct, not \(other.typeName)")
        }
        var device = DeviceProperties(devicegroup: "")
        for (key, text) in pairs {
            switch key {
            case "devicegroup": device.devicegroup = text
            case "devicename": device.devicename = text
            case "deviceid": device.deviceid = text
            default: throw .parameters("options.device.\(key.prefix(50)): not a device property (devicegroup, devicename, deviceid)")
            }
        }
        guard !device.devicegroup.isEmpty else { throw .parameters("options.device: give a devicegroup (devicegroup:NAME)") }
        return device
    }

    /// `[[name, xml], ...]`: test definitions sent with the call.
    static func testplans(_ options: [String: XMLRPCValue], _ name: String, _ location: PackageRequest.Location) throws(XMLRPCFault)
        -> [InlineDefinition]
    {
        guard let value = options[name], value != .null else { return [] }
        guard case .array(let items) = value else {
            throw .parameters("options.\(name): a list of [name, xml] pairs, not \(value.typeName)")
        }
        var plans: [InlineDefinition] = []
        for (index, item) in items.enumerated() {
            guard case .array(let pair) = item, pair.count == 2, case .string(let plan) = pair[0] else {
                throw .parameters("options.\(name)[\(index)]: a [name, xml] pair")
            }
            let xml: String
            switch pair[1] {
            case .string(let text): xml = text
            case .base64(let bytes): xml = String(decoding: bytes, as: UTF8.self)
            default: throw .parameters("options.\(name)[\(index)]: the definition is a string, not \(pair[1].typeName)")
            }
            plans.append(InlineDefinition(name: plan, location: location, xml: xml))
        }
        return plans
    }
}
