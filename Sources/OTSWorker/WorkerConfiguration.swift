import Foundation
import OTSCore
import TOMLKit
import TestRunner

/// A worker process: the server it serves and its instances, one per
/// device. Read from a TOML file (see `examples/worker.toml`).
public struct WorkerConfiguration: Sendable {
    /// How an instance drives its device.
    public enum Adapter: Sendable {
        case simulated(SimulatedDevice)
        case commands(DeviceCommands)
    }

    /// Where an instance's test steps run.
    public enum Executor: Sendable, Hashable {
        case local
        case chroot(String)
        /// `user@host:port`, placeholders allowed (`root@{address}`).
        case ssh(String)
        /// An external executor's words, placeholders allowed.
        case external([String])
    }

    public struct Instance: Sendable {
        public var name: String
        public var device: DeviceProperties
        public var adapter: Adapter
        public var executor: Executor = .local
        /// Where host packages (and device packages, when the device is not
        /// an SSH target) have `NAME/tests.xml`.
        public var packagesDirectory: String?
        /// The identity file for an SSH executor (`ssh -i`).
        public var sshKey: String?
        /// Values for placeholders in device commands and the executor
        /// (`{address}`, `{serial}`, ...), besides `{image}` and `{device}`.
        public var values: [String: String] = [:]

        public init(name: String, device: DeviceProperties, adapter: Adapter) {
            self.name = name
            self.device = device
            self.adapter = adapter
        }

        /// Values for placeholders in device commands and the executor: the
        /// `[instance.values]`, and the device's properties (`{device}`,
        /// `{devicegroup}`, `{devicename}`, `{deviceid}`).
        public var placeholders: [String: String] {
            var values = values
            values["devicegroup"] = device.devicegroup
            values["device"] = values["device"] ?? device.devicename ?? device.devicegroup
            values["devicename"] = device.devicename ?? ""
            values["deviceid"] = device.deviceid ?? ""
            return values
        }
    }

    public var server = "http://127.0.0.1:8310"
    /// The farm's enrollment secret: each instance enrolls with it and
    /// gets a token of its own.
    public var enrollmentSecret: String?
    /// A PEM file of certificates to trust for an `https` server, beside
    /// the system's.
    public var caFile: String?
    /// The host name the instances register with (default: this host's).
    public var host = ProcessInfo.processInfo.hostName
    /// Where events and results wait until the server has them.
    public var spoolDirectory = "ots-data/worker-spool"
    /// Where tasks run (results, fetched files) and images are cached.
    public var workDirectory = "ots-data/worker"
    /// Longest a claim waits on the server before asking again (seconds).
    public var claimWait = 20.0
    /// Which image and test definition URLs the instances read
    /// (`allowed_url_prefixes`, `image_dirs`).
    public var urls = URLPolicy()
    /// `max_image_bytes`: the largest image read or downloaded.
    public var maxImageBytes = ImageCache.defaultMaximumBytes
    /// `max_results_bytes`: the largest results XML sent (the server's
    /// limit of the same name); larger results are kept on the worker.
    public var maxResultsBytes = WorkerConfiguration.defaultMaxResultsBytes
    public static let defaultMaxResultsBytes = 64 * 1024 * 1024
    /// `allow_host_packages`: whether tasks may run steps on the worker host
    /// itself (host packages, and definitions by URL on the local executor).
    public var allowHostPackages = true
    public var instances: [Instance] = []

    public init() {}

    /// Applies `OTS_SERVER` and `OTS_ENROLLMENT_SECRET` (over the file).
    public mutating func load(environment: [String: String]) throws(ConfigurationError) {
        let environment = ConfigurationEnvironment(environment)
        if let value = environment["OTS_SERVER"] {
            try Self.checkServer(value, in: "OTS_SERVER", key: nil)
            server = value
        }
        enrollmentSecret = environment["OTS_ENROLLMENT_SECRET"] ?? enrollmentSecret
    }

    /// An error naming where `server` came from unless it is an http(s) URL.
    static func checkServer(_ server: String, in source: String, key: String?) throws(ConfigurationError) {
        guard let url = URLComponents(string: server), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
            throw ConfigurationError(file: source, "\(key.map { "\($0): " } ?? "")'\(server)' is not an http(s) URL")
        }
    }

    /// Reads a TOML file; every problem names the file and the key.
    public static func load(file path: String) throws(ConfigurationError) -> WorkerConfiguration {
        var reader = try TOMLReader.open(file: path)
        var configuration = WorkerConfiguration()
        configuration.server = try reader.string("server") ?? configuration.server
        try checkServer(configuration.server, in: path, key: "server")
        configuration.enrollmentSecret = try reader.string("enrollment_secret")
        configuration.host = try reader.string("host") ?? configuration.host
        let folder = (path as NSString).deletingLastPathComponent
        func resolve(_ value: String) -> String {
            value.hasPrefix("/") ? value : ((folder.isEmpty ? FileManager.default.currentDirectoryPath : absolute(folder)) + "/" + value)
        }
        if let spool = try reader.string("spool_dir") { configuration.spoolDirectory = resolve(spool) }
        if let work = try reader.string("work_dir") { configuration.workDirectory = resolve(work) }
        configuration.claimWait = try reader.seconds("claim_wait") ?? configuration.claimWait
        configuration.caFile = try reader.string("ca_file").map(resolve)
        if let prefixes = try reader.strings("allowed_url_prefixes") {
            for prefix in prefixes where !(prefix.hasPrefix("http://") || prefix.hasPrefix("https://")) {
                throw reader.error(
                    "allowed_url_prefixes", "'\(prefix)' does not start with http:// or https:// (file URLs are allowed by image_dirs)")
            }
            configuration.urls.allowedPrefixes = prefixes
        }
        configuration.urls.fileDirectories = try reader.strings("image_dirs")?.map(resolve) ?? []
        if let bytes = try reader.int("max_image_bytes", in: 1...Int.max) { configuration.maxImageBytes = Int64(bytes) }
        configuration.maxResultsBytes = try reader.int("max_results_bytes", in: 1...Int.max) ?? configuration.maxResultsBytes
        configuration.allowHostPackages = try reader.bool("allow_host_packages") ?? configuration.allowHostPackages
        let tables = try reader.tables("instance") ?? []
        guard !tables.isEmpty else {
            throw ConfigurationError(file: path, "instance: give at least one [[instance]]")
        }
        var names: Set<String> = []
        for (index, table) in tables.enumerated() {
            var nested = reader.nested(table, prefix: "instance[\(index)].")
            var instance = try nested.instance(resolve: resolve)
            guard names.insert(instance.name).inserted else {
                throw ConfigurationError(file: path, "instance[\(index)].name: '\(instance.name)' is used twice")
            }
            instance.packagesDirectory = instance.packagesDirectory.map(resolve)
            configuration.instances.append(instance)
        }
        try reader.rejectUnknownKeys()
        return configuration
    }

    private static func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }
}

/// A device driven by commands from the configuration.
public struct DeviceCommands: Sendable, Hashable {
    public var flash: CommandTemplate?
    public var boot: CommandTemplate?
    /// Run until it succeeds after booting: the device answers.
    public var ready: CommandTemplate?
    /// Run at the end of every task that flashed or booted the device
    /// (a virtual machine is stopped, a phone put to rest).
    public var powerOff: CommandTemplate?
    /// A file the device's console writes to (placeholders allowed): its
    /// end is attached to a task whose boot failed.
    public var consoleLog: CommandTemplate?
    public var flashTries = 3
    public var bootTries = 3
    public var flashTimeout = 1800.0
    public var bootTimeout = 600.0
    public var readyTimeout = 300.0
    public var powerOffTimeout = 60.0

    public init() {}
}

extension TOMLReader {
    mutating func instance(resolve: (String) -> String) throws(ConfigurationError) -> WorkerConfiguration.Instance {
        guard let name = try string("name"), !name.isEmpty,
            name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) })
        else {
            throw error("name", "required: letters, digits, '-', '_' and '.'")
        }
        guard let group = try string("devicegroup") else { throw error("devicegroup", "required") }
        let device = DeviceProperties(devicegroup: group, devicename: try string("devicename"), deviceid: try string("deviceid"))
        if let problem = device.problems.first { throw error("device", problem) }
        let adapterName = try string("adapter") ?? "simulated"
        var adapter: WorkerConfiguration.Adapter
        switch adapterName {
        case "simulated":
            var simulated = SimulatedDevice()
            if let table = try table("simulated") {
                var nested = nested(table, prefix: "simulated.")
                simulated.seed = UInt64(try nested.int("seed", in: 0...Int.max) ?? 1)
                simulated.flash = try nested.phase("flash")
                simulated.boot = try nested.phase("boot")
                try nested.rejectUnknownKeys()
            }
            if let problem = simulated.problems.first { throw error("simulated", problem) }
            adapter = .simulated(simulated)
        case "commands":
            guard let table = try table("commands") else { throw error("commands", "required with adapter = \"commands\"") }
            var nested = nested(table, prefix: "commands.")
            var commands = DeviceCommands()
            commands.flash = try nested.command("flash")
            commands.boot = try nested.command("boot")
            commands.ready = try nested.command("ready")
            commands.powerOff = try nested.command("power_off")
            if let path = try nested.string("console_log") {
                do {
                    commands.consoleLog = try CommandTemplate([path])
                } catch {
                    throw nested.error("console_log", error.message)
                }
            }
            commands.flashTries = try nested.int("flash_tries", in: 1...20) ?? commands.flashTries
            commands.bootTries = try nested.int("boot_tries", in: 1...20) ?? commands.bootTries
            commands.flashTimeout = try nested.seconds("flash_timeout") ?? commands.flashTimeout
            commands.bootTimeout = try nested.seconds("boot_timeout") ?? commands.bootTimeout
            commands.readyTimeout = try nested.seconds("ready_timeout") ?? commands.readyTimeout
            commands.powerOffTimeout = try nested.seconds("power_off_timeout") ?? commands.powerOffTimeout
            try nested.rejectUnknownKeys()
            adapter = .commands(commands)
        default:
            throw error("adapter", "must be \"simulated\" or \"commands\", not '\(adapterName)'")
        }
        var instance = WorkerConfiguration.Instance(name: name, device: device, adapter: adapter)
        instance.packagesDirectory = try string("packages_dir")
        if let table = try table("values") {
            for key in table.keys {
                guard let value = table[key]?.string else { throw error("values.\(key)", "must be a string") }
                instance.values[key] = value
            }
        }
        let executor = try string("executor") ?? "local"
        switch executor {
        case "local": instance.executor = .local
        case "chroot":
            guard let root = try string("chroot") else { throw error("chroot", "required with executor = \"chroot\"") }
            instance.executor = .chroot(resolve(root))
        case "ssh":
            guard let target = try string("ssh_target") else { throw error("ssh_target", "required with executor = \"ssh\"") }
            instance.executor = .ssh(target)
            if let key = try string("ssh_key") {
                let path = resolve(key)
                guard FileManager.default.isReadableFile(atPath: path) else {
                    throw error("ssh_key", "\(path) does not exist or cannot be read")
                }
                instance.sshKey = path
            }
        case "external":
            guard let words = try strings("external_executor"), !words.isEmpty else {
                throw error("external_executor", "required with executor = \"external\": the command's words")
            }
            instance.executor = .external(words)
        default:
            throw error("executor", "must be local, chroot, ssh or external, not '\(executor)'")
        }
        try rejectUnknownKeys()
        return instance
    }

    mutating func phase(_ name: String) throws(ConfigurationError) -> SimulatedDevice.Phase {
        SimulatedDevice.Phase(
            seconds: try seconds("\(name)_seconds") ?? 0,
            failureProbability: try seconds("\(name)_failure_probability") ?? 0,
            failingTries: try ints("\(name)_failing_tries") ?? []
        )
    }

    mutating func command(_ key: String) throws(ConfigurationError) -> CommandTemplate? {
        guard let words = try strings(key) else { return nil }
        do {
            return try CommandTemplate(words)
        } catch {
            throw self.error(key, error.message)
        }
    }
}
