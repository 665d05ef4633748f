import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OTSClient
import OTSCore
import OTSTestSupport
import Testing

/// Results you can read, end to end: a farm of three simulated devices of
/// one group runs 27 testruns of `blame-suite` over three images, with a
/// bad device planted (it fails `sensor`), a regressing image (the third
/// breaks `feature-x`) and a flaky case (`race` fails every other run on
/// each device). The monitor's API, `ots flaky`, `ots history`,
/// `ots results --failed` and the dashboard in a real Chromium show exactly
/// those three, with their evidence, and blame nothing else.
@Suite(.serialized, .timeLimit(.minutes(5))) struct CaseBlameTests {
    static let devices = ["good1", "good2", "bad"]
    static let images = ["v1", "v2", "v3"]
    static let sensor = "blame-suite/hardware/sensor"
    static let feature = "blame-suite/features/feature-x"
    static let race = "blame-suite/timing/race"

    @Test(.enabled(if: Browser.wanted, "chromium is not installed; ./scripts/test.sh installs it"), arguments: FarmEngine.available)
    func theFlakyCaseTheBadDeviceAndTheRegressingImageAreFoundAndNothingElse(engine: FarmEngine) async throws {
        let counters = try TemporaryDirectory()
        let workers = Self.devices.map { name in
            var spec = TestFarm.WorkerSpec(name: name, devicegroup: "lab")
            spec.simulated = "flash_seconds = 0\nboot_seconds = 0"
            spec.instance = "devicename = \"\(name)\""
            spec.environment = ["OTS_FLAKY_DIR": counters.path]
            spec.claimWait = 1
            return spec
        }
        try await TestFarm.with(engine: engine, workers: workers) { farm in
            let (_, monitorURL) = try await farm.startMonitor(settings: "server_url = \"\(farm.baseURL)\"\n")
            let monitor = OTSClient(baseURL: monitorURL)
            let browser = try #require(try await Browser.launch())
            defer { browser.stop() }
            try await farm.waitForWorkers(3)

            // Three testruns per device and image, one image after the other.
            var testruns: [(id: String, device: String, image: String)] = []
            for image in Self.images {
                let path = try farm.workspace.write("image-\(image).img", "image \(image)\n")
                var submitted: [(String, String, String)] = []
                for _ in 0..<3 {
                    for device in Self.devices {
                        var request = TestrunRequest(
                            device: DeviceProperties(devicegroup: "lab", devicename: device), packages: .init(device: ["blame-suite"]))
                        request.image = "file://" + path
                        request.swProduct = "lab-os"
                        submitted.append((try await farm.client.submit(request).id, device, image))
                    }
                }
                for (id, _, _) in submitted {
                    let view = try await farm.waitForEnd(id, timeout: 60)
                    #expect(view.state == .finished, "\(view.summaryText)")
                }
                testruns += submitted
            }
            try await eventually("the monitor to store all 27 runs of race", within: .seconds(30)) {
                try await monitor.history(package: "blame-suite", set: "timing", testCase: "race", limit: 100).runs.count == 27
            }

            // The flaky list: race, and nothing else, with its evidence.
            let flaky = try await monitor.flaky(deviceGroup: "lab")
            #expect(flaky.cases.map(\.path) == [Self.race])
            let race = try #require(flaky.cases.first)
            #expect(race.runs == 20 && race.flips > 0 && race.flipRate >= 0.3, "\(race)")
            // Each image among its last 20 runs passed and failed it.
            #expect(race.contradictions.count >= 2, "\(race.contradictions)")
            #expect(race.contradictions.allSatisfy { $0.pass.image == $0.image && $0.fail.image == $0.image && $0.pass.result == "PASS" })
            #expect(try await monitor.flaky(deviceGroup: "elsewhere").cases.isEmpty)

            // Every failure of every testrun, and its likely cause.
            var blamed: [String: Set<String>] = [:]
            for (id, device, image) in testruns {
                let causes = try await monitor.causes(testrun: id)
                for failure in causes.failures {
                    let cause = try #require(failure.cause, "\(failure.path) in \(id)")
                    var what = "\(cause.kind)"
                    if cause.kind == .device { what += " " + (cause.worker ?? "-") }
                    if cause.kind == .image {
                        what += " \(cause.lastGoodImage?.suffix(12) ?? "-")→\(cause.firstBadImage?.suffix(12) ?? "-")"
                    }
                    blamed[failure.path, default: []].insert(what)
                    #expect(failure.worker == "e2e/\(device)" && failure.image?.hasSuffix("image-\(image).img") == true)
                    #expect(failure.swProduct == "lab-os" && failure.device.devicename == device)
                    #expect(!cause.evidence.isEmpty)
                }
            }
            #expect(
                blamed == [
                    Self.sensor: ["device e2e/bad"], Self.feature: ["image image-v2.img→image-v3.img"], Self.race: ["test"],
                ], "\(blamed)")
            // Counted so in the statistics: 9 sensor failures, 9 of
            // feature-x with v3 (3 devices, 3 runs each), 12 of race (4 of
            // 9 runs on each device); none unknown.
            let stats = try await monitor.statistics(window: "1h", deviceGroup: "lab")
            #expect(stats.errorsByCause == ["device": 9, "image": 9, "test": 12], "\(stats.errorsByCause ?? [:])")

            // The history of a case: every run, with device and image.
            let history = try await OTSBinary.run(
                ["history", "--monitor", monitorURL, Self.sensor, "--devicegroup", "lab"], in: farm.workspace.path)
            #expect(history.status == 0, "\(history.stderr)")
            #expect(history.stdout.contains("27 runs, newest first, 9 failed"), "\(history.stdout)")
            let rows = history.stdout.split(separator: "\n").filter { $0.contains(" FAIL ") }
            #expect(rows.count == 9 && rows.allSatisfy { $0.contains("e2e/bad") && $0.contains("device") }, "\(history.stdout)")

            // ots flaky and ots results --failed, as a person reads them.
            let listed = try await OTSBinary.run(["flaky", "--monitor", monitorURL, "--devicegroup", "lab"], in: farm.workspace.path)
            #expect(listed.status == 0, "\(listed.stderr)")
            let lines = listed.stdout.split(separator: "\n").filter { !$0.hasPrefix(" ") }
            #expect(lines.count == 1 && lines[0].hasPrefix("\(Self.race)  on lab: "), "\(listed.stdout)")
            #expect(listed.stdout.contains("PASS on e2e/"), "its contradicting runs: \(listed.stdout)")
            let last = try #require(testruns.last { $0.device == "bad" })
            let failed = try await OTSBinary.run(
                ["results", last.id, "--failed", "--monitor", monitorURL] + farm.cli, in: farm.workspace.path)
            #expect(failed.status == 0, "\(failed.stderr)")
            let text = failed.stdout
            #expect(text.contains("FAIL \(Self.sensor)  on e2e/bad (lab.bad)"), "\(text)")
            #expect(text.contains("sensor not found on bad"))
            #expect(text.contains("expected 0, returned 1"))
            #expect(
                text.contains("likely cause: device: e2e/bad fails this case while e2e/good1, e2e/good2 pass it with the same image"))
            #expect(text.contains("FAIL \(Self.feature)"))
            #expect(text.contains("likely cause: image: a regression in file://"), "\(text)")

            // The dashboard: the flaky page, a failing testrun's cases with
            // their failing steps and causes, the error page, the overview.
            let page = try await browser.open(monitorURL + "/flaky?devicegroup=lab")
            try await browser.waitUntil(page, "document.querySelectorAll('#flaky tbody tr').length > 0", "the flaky page")
            #expect(
                try await browser.strings(page, "[...document.querySelectorAll('#flaky tbody tr')].map(r => r.dataset.case)") == [Self.race]
            )
            #expect(try await browser.evaluate(page, "document.querySelectorAll('#flaky .strip .cell').length") == "20")
            #expect(
                try await browser.evaluate(page, "document.querySelectorAll('#flaky .evidence li').length")
                    == String(race.contradictions.count))

            _ = try await browser.evaluate(page, "window.location.href = '\(monitorURL)/testruns/\(last.id)'")
            try await browser.waitUntil(
                page, "document.querySelector('#cases details.package[data-package=\"blame-suite\"]')?.open === true", "the testrun's cases"
            )
            // Its flash and boot are cases of the device, which passed.
            #expect(
                try await browser.strings(page, "[...document.querySelectorAll('#cases details.package')].map(d => d.dataset.package)")
                    == ["@device", "blame-suite"])
            let failing = try await browser.strings(
                page, "[...document.querySelectorAll('#cases tr[data-result=FAIL]')].map(r => r.dataset.case)")
            #expect(Set(failing).isSubset(of: [Self.sensor, Self.feature, Self.race]) && failing.contains(Self.sensor), "\(failing)")
            let causes = try await browser.strings(
                page,
                "[...document.querySelectorAll('#cases tr.failure-detail')].map(r => r.dataset.failure + ' ' + r.querySelector('[data-cause]').dataset.cause)"
            )
            #expect(causes.contains("\(Self.sensor) device") && causes.contains("\(Self.feature) image"), "\(causes)")
            #expect(!causes.contains { $0.hasPrefix(Self.race) && !$0.hasSuffix(" test") })
            let sensorDetail = "document.querySelector('#cases tr.failure-detail[data-failure=\"\(Self.sensor)\"]')"
            #expect(
                try await browser.string(page, "\(sensorDetail).querySelector('[data-stream=stderr] pre').textContent")
                    == "sensor not found on bad")
            #expect(
                try await browser.string(page, "\(sensorDetail).querySelector('[data-stream=stdout] .output-name').textContent")
                    == "stdout (12 lines)")
            #expect(
                try await browser.evaluate(page, "\(sensorDetail).querySelector('[data-stream=stdout] details').open") == "false",
                "the whole of a long output is folded")
            #expect(try await browser.evaluate(page, "\(sensorDetail).querySelectorAll('.strip .cell').length") == "20")
            let failedCells = try await browser.strings(
                page, "[...\(sensorDetail).querySelectorAll('.strip .cell.fail')].map(c => c.title)")
            #expect(!failedCells.isEmpty && failedCells.allSatisfy { $0.hasPrefix("FAIL on e2e/bad with file://") }, "\(failedCells)")
            #expect(try await browser.evaluate(page, "\(sensorDetail).querySelectorAll('.strip .cell.current').length") == "1")
            // The downloads are the server's.
            let downloads = try await browser.strings(page, "[...document.querySelectorAll('#cases .downloads a')].map(a => a.href)")
            #expect(downloads.count == 3 && downloads.allSatisfy { $0.hasPrefix(farm.baseURL) }, "\(downloads)")
            let junit = try await HTTPClient.shared.execute(HTTPClientRequest(url: downloads[1]), timeout: .seconds(10))
            #expect(junit.status.code == 200)
            // Redrawn live, what the reader closed stays closed.
            let package = "document.querySelector('#cases details.package[data-package=\"blame-suite\"]')"
            _ = try await browser.evaluate(page, "\(package).open = false")
            let drawn = try await browser.evaluate(page, "document.body.dataset.redrawn || '0'")
            try await browser.waitUntil(page, "(document.body.dataset.redrawn || '0') !== \(drawn)", timeout: 20, "a redraw")
            #expect(try await browser.evaluate(page, "\(package).open") == "false")

            // The error page of sensor's failure says its likely cause.
            let errorLink = try #require(
                try await browser.string(
                    page,
                    "[...document.querySelectorAll('ul.failures li')].find(l => l.textContent.includes('sensor'))?.querySelector('a').href")
            )
            _ = try await browser.evaluate(page, "window.location.href = '\(errorLink)'")
            try await browser.waitUntil(page, "document.querySelectorAll('#occurrences tbody tr').length > 0", "the error page")
            let kinds = try await browser.strings(
                page, "[...document.querySelectorAll('#occurrences [data-cause]')].map(c => c.dataset.cause)")
            #expect(kinds.count == 9 && kinds.allSatisfy { $0 == "device" }, "\(kinds)")

            _ = try await browser.evaluate(page, "window.location.href = '\(monitorURL)/?devicegroup=lab&window=1h'")
            try await browser.waitUntil(page, "document.querySelectorAll('#causes tbody tr').length === 4", "the overview's causes")
            let counts = try await browser.strings(
                page,
                "[...document.querySelectorAll('#causes tbody tr')].map(r => r.dataset.cause + ' ' + r.querySelector('td').textContent)")
            #expect(counts == ["device 9", "image 9", "test 12", "unknown 0"])
        }
    }
}
