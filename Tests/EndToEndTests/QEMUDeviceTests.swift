import Crypto
import Foundation
import NIOHTTP1
import OTSClient
import OTSCore
import OTSTestSupport
import Testing

/// The project's reference device: a QEMU virtual machine that is really
/// flashed with an image, booted, tested over SSH, rebooted and powered off
/// (deploy/devices/qemu, images from scripts/build-qemu-device.sh).
enum QEMUDevice {
    /// What scripts/build-qemu-device.sh built (the test script sets it).
    static var directory: String? { ProcessInfo.processInfo.environment["OTS_QEMU_DEVICE_DIR"] }

    static var available: Bool {
        guard let directory else { return false }
        let built = ["vmlinuz", "firmware.cpio.gz", "image.ext4", "broken.ext4", "id_ed25519"].allSatisfy {
            FileManager.default.fileExists(atPath: directory + "/" + $0)
        }
        let qemu = ["/usr/bin/qemu-system-x86_64", "/usr/local/bin/qemu-system-x86_64"].contains {
            FileManager.default.isExecutableFile(atPath: $0)
        }
        return built && qemu
    }

    /// Run when the device is here, or when the test script says it is.
    static var wanted: Bool { available || ProcessInfo.processInfo.environment["OTS_REQUIRE_QEMU"] == "1" }

    static var script: String { OTSBinary.repositoryRoot + "/deploy/devices/qemu/ots-qemu" }

    /// `sha256:HEX` of a file.
    static func checksum(_ path: String) throws -> String {
        let data = try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe)
        return "sha256:" + SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    /// QEMU processes of this state folder that are still running.
    static func machines(of state: String) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.filter { $0.allSatisfy(\.isNumber) }.compactMap { pid in
            guard let raw = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
            let line = String(decoding: raw, as: UTF8.self).replacingOccurrences(of: "\0", with: " ")
            return line.contains("qemu-system") && line.contains(state) ? line : nil
        }
    }
}

@Suite(.timeLimit(.minutes(10))) struct QEMUDeviceTests {
    @Test(
        .enabled(
            if: QEMUDevice.wanted,
            "needs qemu-system-x86_64 and the device of scripts/build-qemu-device.sh in OTS_QEMU_DEVICE_DIR (./scripts/test.sh provides both)"
        ))
    func aVirtualMachineIsFlashedBootedTestedRebootedAndPoweredOff() async throws {
        guard QEMUDevice.available, let device = QEMUDevice.directory else {
            Issue.record("OTS_REQUIRE_QEMU is set but qemu-system-x86_64 or the device in OTS_QEMU_DEVICE_DIR is missing")
            return
        }
        try await TestFarm.with(engine: .sqlite, workers: []) { farm in
            let state = farm.workspace.file("qemu-1")
            // A host package that reaches the guest the way the worker does.
            let host = farm.workspace.file("packages/qemu-from-host")
            try FileManager.default.createDirectory(atPath: host, withIntermediateDirectories: true)
            try """
            <?xml version="1.0" encoding="UTF-8"?>
            <testdefinition version="1.0">
              <suite name="qemu-from-host">
                <set name="host">
                  <case name="guest-answers">
                    <step>ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -i "$OTS_KEY" -p "$OTS_PORT" root@127.0.0.1 cat /etc/os-release | grep '^ID=ots-qemu$'</step>
                  </case>
                </set>
              </suite>
            </testdefinition>
            """.write(toFile: host + "/tests.xml", atomically: true, encoding: .utf8)
            let script = QEMUDevice.script
            let config = try farm.workspace.write(
                "worker-qemu.toml",
                """
                server = "\(farm.baseURL)"
                host = "e2e"
                enrollment_secret = "\(TestFarm.enrollmentSecret)"
                spool_dir = "spool-qemu"
                work_dir = "work-qemu"
                claim_wait = 2
                image_dirs = ["\(device)", "\(farm.workspace.path)"]

                [[instance]]
                name = "qemu-1"
                devicegroup = "qemu"
                adapter = "commands"
                executor = "ssh"
                ssh_target = "root@127.0.0.1:{port}"
                ssh_key = "\(device)/id_ed25519"
                packages_dir = "\(farm.workspace.file("packages"))"

                [instance.values]
                state = "\(state)"
                firmware = "\(device)"
                port = "\(try SSHServer.freePort())"
                key = "\(device)/id_ed25519"

                [instance.commands]
                flash = ["\(script)", "flash", "{image}", "{state}"]
                boot = ["\(script)", "boot", "{state}", "{firmware}", "{port}", "{key}", "90"]
                ready = ["\(script)", "ready", "{port}", "{key}"]
                power_off = ["\(script)", "power-off", "{state}"]
                console_log = "{state}/console.log"
                flash_tries = 1
                boot_tries = 2
                boot_timeout = 120
                ready_timeout = 30
                """)
            farm.workers["qemu-1"] = try ChildProcess(["worker", "--config", config], logs: farm.workspace.file("worker-qemu"))
            try await farm.waitForWorkers(1)

            // A good image, by checksum: flashed, booted, its own package
            // and a host package against it, a file fetched from it.
            var good = TestrunRequest(
                device: DeviceProperties(devicegroup: "qemu"), packages: .init(device: ["ots-qemu-tests"], host: ["qemu-from-host"]))
            good.image = "file://\(device)/image.ext4"
            good.imageChecksum = try QEMUDevice.checksum(device + "/image.ext4")
            good.distributionModel = "single"  // both packages on one booted machine
            let passed = try await farm.waitForEnd(try await farm.client.submit(good).id, timeout: 300)
            #expect(passed.verdict == .pass, "\(passed.summaryText)\n\(farm.logs)")
            #expect(passed.tasks?.first?.flashTries == 1)
            #expect(passed.tasks?.first?.bootTries == 1)
            let xml = String(decoding: try await farm.client.results(id: passed.id, format: "xml"), as: UTF8.self)
            #expect(xml.contains(#"<case name="kernel""#), "the package installed in the image ran in the guest")
            #expect(xml.contains(#"<case name="guest-answers""#), "the host package ran against the guest")
            let list = String(decoding: try await farm.client.send(.GET, "testruns/\(passed.id)/files").body, as: UTF8.self)
            #expect(list.contains("ots-qemu-report.txt"), "the report was fetched from the guest: \(list)")
            #expect(QEMUDevice.machines(of: state).isEmpty, "the machine is powered off after the task")
            // Flash and boot are told with what they really took.
            let tries = try await farm.queuedEvents().filter {
                $0.testrunID == passed.id && ($0.type == .flashFinished || $0.type == .bootFinished)
            }
            #expect(tries.map(\.type) == [.flashFinished, .bootFinished], "\(tries.map(\.type))")
            #expect(tries.allSatisfy { $0.tryNumber == 1 && ($0.durationMs ?? 0) > 0 })
            let boot = try #require(tries.last?.durationMs)
            #expect(boot >= 1000, "a real boot takes seconds, not \(boot) ms")

            // A package that reboots the guest in the middle of its set.
            var reboot = TestrunRequest(device: DeviceProperties(devicegroup: "qemu"), packages: .init(device: ["ots-qemu-reboot"]))
            reboot.image = "file://\(device)/image.ext4"
            let rebooted = try await farm.waitForEnd(try await farm.client.submit(reboot).id, timeout: 300)
            #expect(rebooted.verdict == .pass, "the post-reboot steps found a fresh guest: \(rebooted.summaryText)\n\(farm.logs)")
            let rebootXML = String(decoding: try await farm.client.results(id: rebooted.id, format: "xml"), as: UTF8.self)
            #expect(rebootXML.contains("test ! -e /tmp/ots-before-reboot"), "the post-reboot steps ran")

            // An image that never boots: every boot try fails, and the
            // console's last words are in the error.
            var broken = TestrunRequest(device: DeviceProperties(devicegroup: "qemu"), packages: .init(device: ["ots-qemu-tests"]))
            broken.image = "file://\(device)/broken.ext4"
            let failed = try await farm.waitForEnd(try await farm.client.submit(broken).id, timeout: 300)
            #expect(failed.verdict == .error, "\(failed.summaryText)")
            #expect(failed.error?.category == .device)
            #expect(failed.tasks?.first?.bootTries == 2, "each boot try was made")
            #expect(failed.error?.message.contains("has no /sbin/init") == true, "\(failed.error?.message ?? "-")")
            let task = try #require(failed.tasks?.first?.id)
            let console = String(
                decoding: try await farm.client.send(
                    .GET, "testruns/\(failed.id)/files/content",
                    query: [("task", task), ("package", TaskWork.devicePackage), ("name", "console.log")]
                ).body, as: UTF8.self)
            #expect(
                console.contains("ots-firmware: the image on /dev/vda has no /sbin/init"),
                "the console log is attached: \(console.suffix(500))")

            // An image whose checksum does not match is not flashed.
            var wrong = good
            wrong.imageChecksum = "sha256:" + String(repeating: "0", count: 64)
            let refused = try await farm.waitForEnd(try await farm.client.submit(wrong).id, timeout: 120)
            #expect(refused.verdict == .error)
            #expect(refused.error?.category == .image, "\(refused.summaryText)")
            #expect(refused.tasks?.first?.flashTries == 0, "nothing was flashed")

            try await eventually("no QEMU machine of the device left running", within: .seconds(20)) {
                QEMUDevice.machines(of: state).isEmpty
            }
        }
    }
}
