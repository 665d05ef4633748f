import Foundation
import OTSCore
import OTSTestSupport
import Testing

@testable import OTSWorker

@Suite struct WorkerConfigurationTests {
    static let full = """
        server = "https://ots.example.org:8443"
        enrollment_secret = "s3cret"
        ca_file = "ca.pem"
        host = "rack-7"
        spool_dir = "state/spool"
        work_dir = "/var/tmp/ots-work"
        claim_wait = 5

        [[instance]]
        name = "sim-1"
        devicegroup = "demo"
        devicename = "simulated"
        deviceid = "1"
        packages_dir = "packages"
        executor = "ssh"
        ssh_target = "root@{address}:2222"

        [instance.simulated]
        seed = 7
        flash_seconds = 0.25
        flash_failure_probability = 0.5
        flash_failing_tries = [1, 2]
        boot_seconds = 1
        boot_failing_tries = [3]

        [instance.values]
        address = "192.168.2.15"

        [[instance]]
        name = "board.2"
        devicegroup = "n9"
        adapter = "commands"
        executor = "external"
        external_executor = ["ots-exec", "--serial", "{serial}"]

        [instance.commands]
        flash = ["fastboot", "-s", "{serial}", "flash", "system", "{image}"]
        boot = ["fastboot", "-s", "{serial}", "reboot"]
        ready = ["adb", "-s", "{serial}", "wait-for-device"]
        power_off = ["ots-power", "off", "{serial}"]
        power_off_timeout = 20
        flash_tries = 5
        boot_tries = 2
        flash_timeout = 900
        boot_timeout = 120.5
        ready_timeout = 60

        [instance.values]
        serial = "0042"
        """

    /// One instance with only the required keys, and `extra` lines after them.
    static func minimal(_ extra: String = "") -> String {
        """
        [[instance]]
        name = "a"
        devicegroup = "demo"
        \(extra)
        """
    }

    @Test func readsAFullFile() throws {
        let folder = try TemporaryDirectory()
        let path = try folder.write("worker.toml", Self.full)

        let configuration = try WorkerConfiguration.load(file: path)

        #expect(configuration.server == "https://ots.example.org:8443")
        #expect(configuration.enrollmentSecret == "s3cret")
        #expect(configuration.caFile?.hasSuffix("/ca.pem") == true, "ca_file is found beside the configuration")
        #expect(configuration.host == "rack-7")
        #expect(configuration.spoolDirectory == folder.path + "/state/spool")
        #expect(configuration.workDirectory == "/var/tmp/ots-work")
        #expect(configuration.claimWait == 5)
        try #require(configuration.instances.count == 2)

        let simulated = configuration.instances[0]
        #expect(simulated.name == "sim-1")
        #expect(simulated.device == DeviceProperties(devicegroup: "demo", devicename: "simulated", deviceid: "1"))
        #expect(simulated.packagesDirectory == folder.path + "/packages")
        #expect(simulated.executor == .ssh("root@{address}:2222"))
        #expect(simulated.values == ["address": "192.168.2.15"])
        let device = try #require(simulated.adapter.simulated)
        #expect(
            device
                == SimulatedDevice(
                    flash: .init(seconds: 0.25, failureProbability: 0.5, failingTries: [1, 2]),
                    boot: .init(seconds: 1, failingTries: [3]),
                    seed: 7))

        let board = configuration.instances[1]
        #expect(board.name == "board.2")
        #expect(board.device == DeviceProperties(devicegroup: "n9"))
        #expect(board.packagesDirectory == nil)
        #expect(board.executor == .external(["ots-exec", "--serial", "{serial}"]))
        #expect(board.values == ["serial": "0042"])
        var expected = DeviceCommands()
        expected.flash = try CommandTemplate(["fastboot", "-s", "{serial}", "flash", "system", "{image}"])
        expected.boot = try CommandTemplate(["fastboot", "-s", "{serial}", "reboot"])
        expected.ready = try CommandTemplate(["adb", "-s", "{serial}", "wait-for-device"])
        expected.flashTries = 5
        expected.bootTries = 2
        expected.flashTimeout = 900
        expected.bootTimeout = 120.5
        expected.readyTimeout = 60
        expected.powerOff = try CommandTemplate(["ots-power", "off", "{serial}"])
        expected.powerOffTimeout = 20
        #expect(board.adapter.commands == expected)
    }

    @Test func placeholdersAreTheValuesAndTheDevicesProperties() {
        var instance = WorkerConfiguration.Instance(
            name: "i", device: DeviceProperties(devicegroup: "n9", devicename: "board", deviceid: "7"),
            adapter: .simulated(SimulatedDevice()))
        instance.values = ["serial": "ABC"]
        #expect(
            instance.placeholders == ["serial": "ABC", "devicegroup": "n9", "device": "board", "devicename": "board", "deviceid": "7"])
        instance.values = ["device": "/dev/ttyUSB0"]
        instance.device = DeviceProperties(devicegroup: "n9")
        #expect(instance.placeholders == ["device": "/dev/ttyUSB0", "devicegroup": "n9", "devicename": "", "deviceid": ""])
    }

    @Test func relativePathsAreResolvedAgainstTheFilesFolder() throws {
        let folder = try TemporaryDirectory()
        let path = try folder.write(
            "etc/ots/worker.toml",
            """
            spool_dir = "spool"
            work_dir = "../work"
            """ + "\n" + Self.minimal(#"packages_dir = "pkgs/device""#))

        let configuration = try WorkerConfiguration.load(file: path)

        #expect(configuration.spoolDirectory == folder.path + "/etc/ots/spool")
        #expect(configuration.workDirectory == folder.path + "/etc/ots/../work")
        #expect(configuration.instances.first?.packagesDirectory == folder.path + "/etc/ots/pkgs/device")
    }

    @Test func defaultsFillWhatIsNotGiven() throws {
        let folder = try TemporaryDirectory()
        let path = try folder.write("worker.toml", Self.minimal())

        let configuration = try WorkerConfiguration.load(file: path)

        #expect(configuration.server == "http://127.0.0.1:8310")
        #expect(configuration.enrollmentSecret == nil)
        #expect(configuration.claimWait == 20)
        let instance = try #require(configuration.instances.first)
        #expect(instance.executor == .local)
        #expect(instance.values.isEmpty)
        #expect(instance.adapter.simulated == SimulatedDevice())
        #expect(configuration.urls == URLPolicy(allowedPrefixes: ["http://", "https://"], fileDirectories: []))
        #expect(configuration.maxImageBytes == 16 << 30)
        #expect(configuration.maxResultsBytes == 64 << 20)
        #expect(configuration.allowHostPackages)
    }

    @Test func readsWhatTasksMayAsk() throws {
        let folder = try TemporaryDirectory()
        let path = try folder.write(
            "worker.toml",
            """
            allowed_url_prefixes = ["https://images.lab/", "http://10.0.0.5:8080/defs/"]
            image_dirs = ["images", "/srv/ots/images"]
            max_image_bytes = 1073741824
            max_results_bytes = 1048576
            allow_host_packages = false
            """ + "\n" + Self.minimal())

        let configuration = try WorkerConfiguration.load(file: path)

        #expect(configuration.urls.allowedPrefixes == ["https://images.lab/", "http://10.0.0.5:8080/defs/"])
        #expect(configuration.urls.fileDirectories == [folder.path + "/images", "/srv/ots/images"], "relative to the file")
        #expect(configuration.maxImageBytes == 1 << 30)
        #expect(configuration.maxResultsBytes == 1 << 20)
        #expect(!configuration.allowHostPackages)
    }

    @Test(arguments: [
        ("", WorkerConfiguration.Executor.local),
        (#"executor = "local""#, .local),
        ("executor = \"chroot\"\nchroot = \"roots/n9\"", .chroot("ROOT/roots/n9")),
        ("executor = \"chroot\"\nchroot = \"/srv/n9\"", .chroot("/srv/n9")),
        ("executor = \"ssh\"\nssh_target = \"root@{address}\"", .ssh("root@{address}")),
        ("executor = \"external\"\nexternal_executor = [\"runner\", \"{device}\"]", .external(["runner", "{device}"])),
    ])
    func readsEachExecutor(lines: String, expected: WorkerConfiguration.Executor) throws {
        let folder = try TemporaryDirectory()
        let path = try folder.write("worker.toml", Self.minimal(lines))

        let executor = try #require(try WorkerConfiguration.load(file: path).instances.first).executor

        if case .chroot(let root) = expected {
            #expect(executor == .chroot(root.replacingOccurrences(of: "ROOT", with: folder.path)))
        } else {
            #expect(executor == expected)
        }
    }

    /// A file's text and the message its error gives (after the file name).
    static let badFiles: [(String, String)] = [
        (
            #"server = "http://127.0.0.1:8310""#,
            "instance: give at least one [[instance]]"
        ),
        (
            minimal() + minimal(),
            "instance[1].name: 'a' is used twice"
        ),
        (
            minimal("[instance.simulated]\nflash_second = 2"),
            "unknown key 'instance[0].simulated.flash_second' (known: boot_failing_tries, boot_failure_probability, "
                + "boot_seconds, flash_failing_tries, flash_failure_probability, flash_seconds, seed)"
        ),
        (
            #"sevrer = "http://ots:8310""# + "\n" + minimal(),
            "unknown key 'sevrer' (known: allow_host_packages, allowed_url_prefixes, ca_file, claim_wait, enrollment_secret, host, image_dirs, instance, max_image_bytes, max_results_bytes, server, spool_dir, work_dir)"
        ),
        (
            minimal("flash_tries = 3"),
            "unknown key 'instance[0].flash_tries' (known: adapter, devicegroup, deviceid, devicename, executor, name, "
                + "packages_dir, simulated, values)"
        ),
        (
            #"claim_wait = "soon""# + "\n" + minimal(),
            "claim_wait: must be a number of seconds"
        ),
        (
            "[[instance]]\nname = 3\ndevicegroup = \"demo\"",
            "instance[0].name: must be a string"
        ),
        (
            minimal("adapter = \"commands\"\n[instance.commands]\nflash = \"fastboot flash {image}\""),
            "instance[0].commands.flash: must be an array of strings"
        ),
        (
            minimal("adapter = \"commands\"\n[instance.commands]\nflash_tries = \"three\""),
            "instance[0].commands.flash_tries: must be an integer"
        ),
        (
            minimal("adapter = \"commands\"\n[instance.commands]\nboot_tries = 0"),
            "instance[0].commands.boot_tries: must be from 1 to 20, not 0"
        ),
        (
            minimal("[instance.simulated]\nflash_failure_probability = 1.5"),
            "instance[0].simulated: flash.failure_probability must be from 0 to 1"
        ),
        (
            minimal("[instance.values]\nport = 22"),
            "instance[0].values.port: must be a string"
        ),
        (
            #"server = "ftp://ots.example.org""# + "\n" + minimal(),
            "server: 'ftp://ots.example.org' is not an http(s) URL"
        ),
        (
            #"server = "ots.example.org:8310""# + "\n" + minimal(),
            "server: 'ots.example.org:8310' is not an http(s) URL"
        ),
        (
            minimal(#"adapter = "usb""#),
            #"instance[0].adapter: must be "simulated" or "commands", not 'usb'"#
        ),
        (
            minimal(#"executor = "docker""#),
            "instance[0].executor: must be local, chroot, ssh or external, not 'docker'"
        ),
        (
            minimal(#"executor = "ssh""#),
            #"instance[0].ssh_target: required with executor = "ssh""#
        ),
        (
            minimal(#"adapter = "commands""#),
            #"instance[0].commands: required with adapter = "commands""#
        ),
        (
            minimal("adapter = \"commands\"\n[instance.commands]\nflash = [\"flasher\", \"{image\"]"),
            "instance[0].commands.flash: unbalanced braces in the command word '{image'"
        ),
        (
            "[[instance]]\nname = \"a b\"\ndevicegroup = \"demo\"",
            "instance[0].name: required: letters, digits, '-', '_' and '.'"
        ),
        (
            "[[instance]]\nname = \"a\"",
            "instance[0].devicegroup: required"
        ),
        (
            "allowed_url_prefixes = [\"file:///\"]\n" + minimal(),
            "allowed_url_prefixes: 'file:///' does not start with http:// or https:// (file URLs are allowed by image_dirs)"
        ),
        ("image_dirs = \"/srv\"\n" + minimal(), "image_dirs: must be an array of strings"),
        ("max_image_bytes = 0\n" + minimal(), "max_image_bytes: must be from 1 to \(Int.max), not 0"),
        ("allow_host_packages = \"no\"\n" + minimal(), "allow_host_packages: must be true or false"),
    ]

    @Test(arguments: badFiles)
    func aBadFileGetsAnErrorNamingFileAndKey(text: String, message: String) throws {
        let folder = try TemporaryDirectory()
        let path = try folder.write("worker.toml", text)

        let error = try #require(throws: ConfigurationError.self) { try WorkerConfiguration.load(file: path) }

        #expect(error.file == path)
        #expect(error.message == message)
        #expect(error.description == "\(path): \(message)")
    }

    @Test func aSyntaxErrorNamesItsLine() throws {
        let folder = try TemporaryDirectory()
        let path = try folder.write(
            "worker.toml",
            """
            server = "http://127.0.0.1:8310"

            [[instance]]
            name = "a"
            devicegroup = demo
            """)

        let error = try #require(throws: ConfigurationError.self) { try WorkerConfiguration.load(file: path) }

        #expect(error.file == path)
        #expect(error.line == 5)
        #expect(error.description.hasPrefix("\(path):5: "))
    }

    @Test func aMissingFileIsNamed() throws {
        let folder = try TemporaryDirectory()
        let path = folder.file("absent.toml")

        let error = try #require(throws: ConfigurationError.self) { try WorkerConfiguration.load(file: path) }

        #expect(error.file == path)
        #expect(error.message.hasPrefix("cannot read it: "))
    }
}

extension WorkerConfiguration.Adapter {
    var simulated: SimulatedDevice? {
        if case .simulated(let device) = self { device } else { nil }
    }

    var commands: DeviceCommands? {
        if case .commands(let commands) = self { commands } else { nil }
    }
}
