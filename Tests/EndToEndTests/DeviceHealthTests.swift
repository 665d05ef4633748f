import AsyncHTTPClient
import Foundation
import NIOCore
import OTSClient
import OTSCore
import OTSTestSupport
import Testing

/// Device health on a real farm: a server with a health check for its
/// group, simulated devices (good ones, one whose boots fail 30 % of the
/// time, one whose flasher breaks), the monitor, a webhook receiver and
/// the command line.
@Suite(.serialized, .timeLimit(.minutes(10))) struct DeviceHealthTests {
    /// Short backoffs and two strikes, so that the story takes seconds.
    static let serverSettings = [
        "health.bad_after": "2", "health.window": "10", "health.max_health_checks": "2", "health.health_check_backoff": "0.5",
        "health.health_check_backoff_max": "1", "health_check.e2e.image": "\"file:///dev/null\"",
        "health_check.e2e.packages": "[\"shell-basics\"]", "health_check.e2e.timeout": "60",
    ]
    static let fast = "flash_seconds = 0.05\nboot_seconds = 0.05"

    /// Without and with the server restarted in the middle; PostgreSQL
    /// when the test script provides it.
    static var variants: [(FarmEngine, Bool)] {
        FarmEngine.postgresURL == nil ? [(.sqlite, false), (.sqlite, true)] : [(.sqlite, false), (.postgres, true)]
    }

    static func broken(failing: Bool) -> TestFarm.WorkerSpec {
        var spec = TestFarm.WorkerSpec(name: "broken")
        spec.instance = "devicename = \"broken\""
        spec.simulated = fast + (failing ? "\nflash_failure_probability = 1.0" : "")
        return spec
    }

    func devices(_ farm: TestFarm) async throws -> [String: DeviceHealthView] {
        Dictionary(try await farm.client.devices().devices.map { ($0.workerID, $0) }, uniquingKeysWith: { a, _ in a })
    }

    func waitFor(_ farm: TestFarm, _ what: String, within seconds: Double = 30, _ condition: ([String: DeviceHealthView]) -> Bool)
        async throws
    {
        var last: [String: DeviceHealthView] = [:]
        try await eventually(
            what, within: .seconds(seconds),
            detail: last.values.sorted { $0.workerID < $1.workerID }.map { "\($0.workerID) \($0.health) \($0.reason)" }.joined(
                separator: "\n")
                + "\n" + farm.logs
        ) {
            last = try await devices(farm)
            return condition(last)
        }
    }

    @Test(.serialized, arguments: variants)
    func aBrokenDeviceGoesBadFailsItsChecksWaitsInMaintenanceAndComesBackWhenFixed(engine: FarmEngine, restart: Bool) async throws {
        var flaky = TestFarm.WorkerSpec(name: "flaky")
        flaky.simulated = Self.fast + "\nboot_failure_probability = 0.3\nseed = 11"
        let workers = [TestFarm.WorkerSpec(name: "good1"), TestFarm.WorkerSpec(name: "good2"), flaky, Self.broken(failing: false)]
        try await TestFarm.with(engine: engine, serverSettings: Self.serverSettings, workers: workers) { farm in
            let receiver = try WebhookTests.Receiver(folder: farm.workspace.path, secret: "s")
            try await receiver.waitUntilListening()
            let (_, monitorURL) = try await farm.startMonitor(
                settings: """
                    [[webhook]]
                    name = "health"
                    url = "http://127.0.0.1:\(receiver.port)/ok"
                    types = ["device.health.changed"]
                    """)
            try await farm.waitForPublishers(["webhook:health"])
            let broken = "e2e/broken"

            // Every new instance runs its group's health check first, and passes.
            try await waitFor(farm, "every instance to pass its first health check") { devices in
                devices.count == 4 && devices.values.allSatisfy { $0.health == .good && $0.lastCheck?.verdict == .pass }
            }

            // Its flasher breaks: the next tasks for it end ERROR (device),
            // and after bad_after of them it is bad.
            farm.workers["broken"]?.stop()
            try farm.startWorker(Self.broken(failing: true))
            var forBroken = request(device: ["shell-basics"])
            forBroken.device.devicename = "broken"
            var failedTasks: [String] = []
            for _ in 0..<2 {
                let ended = try await farm.waitForEnd(try await farm.client.submit(forBroken).id)
                #expect(ended.verdict == .error, "\(ended.summaryText)")
                #expect(ended.tasks?.first?.error?.category == .device)
                failedTasks += (ended.tasks ?? []).map(\.id)
            }
            try await waitFor(farm, "the broken device to turn bad") { $0[broken]?.health != .good }

            // Testruns for the group meanwhile all finish on the others.
            let meanwhile = try await withThrowingTaskGroup(of: TestrunView.self) { group in
                for _ in 0..<4 { group.addTask { try await farm.client.submit(request(device: ["shell-basics"])) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            if restart {
                // Between its failed checks the server goes away and comes back.
                try await waitFor(farm, "a first failed check") {
                    ($0[broken]?.failedChecks ?? 0) >= 1 || $0[broken]?.health == .maintenance
                }
                try await farm.restartServer()
            }
            for submitted in meanwhile {
                let ended = try await farm.waitForEnd(submitted.id)
                #expect(ended.verdict == .pass, "\(ended.summaryText)")
                #expect(ended.tasks?.allSatisfy { $0.worker != broken } == true, "\(ended.summaryText)")
            }

            // Its health checks fail (it cannot flash), and after
            // max_health_checks of them in a row it waits in maintenance.
            try await waitFor(farm, "the broken device to be put in maintenance") { $0[broken]?.health == .maintenance }
            let maintenance = try #require(try await devices(farm)[broken])
            #expect(maintenance.failedChecks == 2)
            #expect(maintenance.lastCheck?.verdict == .error)
            #expect(maintenance.reason.contains("2 health checks failed in a row"))
            let checks = try await farm.client.testruns(limit: 200).testruns.filter { $0.healthCheck == broken }
            #expect(checks.count == 3, "its first check and two failed ones: \(checks.map(\.summaryText))")

            // A testrun only it could serve is accepted with a warning.
            let submitted = try await OTSBinary.run(
                ["submit", "--devicegroup", "e2e", "--devicename", "broken", "--package", "shell-basics", "--image", "file:///dev/null"]
                    + farm.cli, in: farm.workspace.path)
            #expect(submitted.status == 0, "\(submitted.stderr)")
            #expect(
                submitted.stderr.contains(
                    "warning: device: no good or unknown worker instance serves e2e.broken (e2e/broken is maintenance)"),
                "\(submitted.stderr)")
            let waiting = submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let listed = try await OTSBinary.run(["device", "list"] + farm.cli, in: farm.workspace.path)
            #expect(listed.status == 0)
            #expect(listed.stdout.contains(broken) && listed.stdout.contains("maintenance"), "\(listed.stdout)")

            // Fixed (its configuration, and the worker restarted), an
            // operator brings it online: its health check passes, and it
            // takes the testrun that waited for it.
            farm.workers["broken"]?.stop()
            try farm.startWorker(Self.broken(failing: false))
            let online = try await OTSBinary.run(
                ["device", "online", broken, "--reason", "flasher replaced"] + farm.cli, in: farm.workspace.path)
            #expect(online.status == 0, "\(online.stderr)")
            #expect(online.stdout.contains("\(broken)  unknown  brought online by e2e: flasher replaced"), "\(online.stdout)")
            let served = try await farm.waitForEnd(waiting)
            #expect(served.verdict == .pass, "\(served.summaryText)")
            #expect(served.tasks?.first?.worker == broken)
            let back = try #require(try await devices(farm)[broken])
            #expect(back.health == .good)
            #expect(back.lastCheck?.verdict == .pass)

            // The monitor heard every change, delivered it to the webhook,
            // counts it, and keeps the checks out of the verdicts.
            let monitor = OTSClient(baseURL: monitorURL)
            let story: [String] = ["unknown", "good", "bad", "maintenance", "unknown", "good"]
            let changes = try await eventually("the monitor to store the broken device's story", detail: farm.logs) {
                let changes = try await monitor.events(worker: broken, type: EventType.deviceHealthChanged.rawValue)
                return changes.compactMap { $0.details?["to"] } == story ? changes : nil
            }
            #expect(changes[2].details?["evidence"] == failedTasks.joined(separator: " "), "the tasks that made it bad")
            #expect(changes[4].details?["by"] == "e2e", "the operator")
            // A new webhook gets the events stored from when it started: at least every change after the first checks.
            let later = Set(changes.dropFirst(2).map(\.id))
            try await eventually("the webhook to receive the changes", detail: "\(receiver.deliveries.map(\.type))") {
                later.isSubset(of: Set(receiver.deliveries.map(\.id)))
            }
            #expect(receiver.deliveries.allSatisfy { $0.type == "device.health.changed" })
            let metrics = try await Self.text(monitorURL + "/metrics")
            #expect(metrics.contains(#"ots_devices{health="good"} 4"#), "\(metrics)")
            #expect(metrics.contains(#"ots_devices{health="maintenance"} 0"#))
            let stats = try await monitor.statistics(window: "1h", worker: broken)
            let figures = try #require(stats.health?.instances.first)
            #expect(figures.worker == broken)
            #expect(figures.health == .good)
            #expect(figures.healthChecks == 4, "its first check, two failed, the one after it was fixed: \(figures)")
            #expect(figures.healthChecksPassed == 2)
            #expect(figures.deviceFailures == 2)
            #expect(figures.tasks == 3)
            #expect(figures.tasksBetweenDeviceFailures == 1.5)
            #expect((figures.badSeconds) > 0)
            #expect((figures.availability ?? 1) < 1)
            // The last testrun's end may reach the monitor after the story.
            let farmStats = try await eventually("the monitor to count the user's five passed testruns (the checks' are not verdicts)") {
                let stats = try await monitor.statistics(window: "1h")
                return stats.verdicts.pass == 5 ? stats : nil
            }
            #expect(farmStats.verdicts.error == 2)
            let printed = try await OTSBinary.run(
                ["stats", "--window", "1h", "--worker", broken, "--monitor", monitorURL], in: farm.workspace.path)
            #expect(printed.stdout.contains("device health"), "\(printed.stdout)")
            #expect(printed.stdout.contains("2/4"), "\(printed.stdout)")
        }
    }

    static func text(_ url: String) async throws -> String {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(30))
        return String(buffer: try await response.body.collect(upTo: 8 * 1024 * 1024))
    }
}
