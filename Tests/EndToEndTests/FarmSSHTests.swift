import Foundation
import NIOHTTP1
import OTSClient
import OTSCore
import OTSTestSupport
import Testing

/// A worker whose device is an SSH target: a real sshd on a loopback port.
@Suite(.timeLimit(.minutes(10))) struct FarmSSHTests {
    @Test(.enabled(if: SSHServer.isAvailable, "needs root and openssh-server (./scripts/test.sh installs it)"))
    func devicePackagesComeFromTheTargetAndHostPackagesRunOnTheWorker() async throws {
        let ssh = try await SSHServer.start()
        let package = "ots-e2e-ssh-" + UUID().uuidString.prefix(8).lowercased()
        let folder = "/usr/share/" + package
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try """
        <?xml version="1.0" encoding="UTF-8"?>
        <testdefinition version="1.0">
          <suite name="\(package)">
            <set name="on-target">
              <case name="over-ssh"><step>test -n "$SSH_CONNECTION"</step></case>
              <case name="report"><step>echo "from the target" &gt; /tmp/\(package).txt</step></case>
              <get><file delete_after="true">/tmp/\(package).txt</file></get>
            </set>
          </suite>
        </testdefinition>
        """.write(toFile: folder + "/tests.xml", atomically: true, encoding: .utf8)

        var worker = TestFarm.WorkerSpec(name: "dut")
        worker.instance = """
            executor = "ssh"
            ssh_target = "root@127.0.0.1:{ssh_port}"
            ssh_key = "\(ssh.identity)"

            [instance.values]
            ssh_port = "\(ssh.port)"
            """
        try await TestFarm.with(engine: .sqlite, workers: [worker]) { farm in
            var both = request(device: [package])
            both.packages.host = ["shell-basics"]
            let submitted = try await farm.client.submit(both)
            let ended = try await farm.waitForEnd(submitted.id)
            #expect(ended.verdict == .pass, "\(ended.summaryText)\n\(farm.logs)")
            #expect(ended.progress.packagesTotal == 2)

            let xml = String(decoding: try await farm.client.results(id: submitted.id, format: "xml"), as: UTF8.self)
            #expect(xml.contains(#"<case name="over-ssh""#), "the device package ran from the target's /usr/share")
            #expect(xml.contains("<suite name=\"shell-basics\""), "the host package ran on the worker")
            let list = String(decoding: try await farm.client.send(.GET, "testruns/\(submitted.id)/files").body, as: UTF8.self)
            #expect(list.contains("\(package).txt"), "the file fetched from the target reached the server: \(list)")
        }
    }
}
