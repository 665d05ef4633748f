import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OTSClient
import OTSCore
import OTSTestSupport
import Testing

/// The worker page shows each device's health, live, in a real headless
/// Chromium; an admin's buttons (and only an admin's) change it.
@Suite(.serialized, .timeLimit(.minutes(10))) struct DashboardHealthTests {
    @Test(.enabled(if: Browser.wanted, "chromium is not installed; ./scripts/test.sh installs it"))
    func theWorkerPageShowsEveryHealthAndAnAdminsButtonsChangeIt() async throws {
        let browser = try #require(try await Browser.launch())
        defer { browser.stop() }
        let gate = FileManager.default.temporaryDirectory.path + "/ots-gate-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: gate) }
        // w1's health check waits at the gate (it stays unknown); w2 cannot
        // flash (its check fails, and it stays bad for a minute).
        var w1 = TestFarm.WorkerSpec(name: "w1")
        w1.environment = ["OTS_GATE": gate]
        var w2 = TestFarm.WorkerSpec(name: "w2")
        w2.simulated += "\nflash_failure_probability = 1.0"
        let settings = [
            "health_check.e2e.image": "\"file:///dev/null\"", "health_check.e2e.packages": "[\"gated\"]",
            "health.health_check_backoff": "60",
        ]
        try await TestFarm.with(engine: .sqlite, serverSettings: settings, workers: [w1, w2]) { farm in
            let (_, monitorURL) = try await farm.startMonitor(settings: "server_url = \"\(farm.baseURL)\"\n")
            func health(_ worker: String) -> String {
                "document.querySelector('#health tr[data-worker=\"e2e/\(worker)\"] [data-role=health]')?.textContent.trim()"
            }
            let forms = "document.querySelectorAll('#health form').length"

            // Anyone may look (reading is open here), but sees no buttons.
            let page = try await browser.open(monitorURL + "/workers/e2e")
            try await browser.waitUntil(page, "\(health("w1")) === 'unknown'", "w1 unknown while its check waits")
            try await browser.waitUntil(page, "\(health("w2")) === 'bad'", "w2 bad after its failed check")
            #expect(try await browser.evaluate(page, forms) == "0", "no buttons without an admin sign-in")
            #expect(try await browser.evaluate(page, "document.querySelectorAll('#health-changes tbody tr').length >= 3") == "true")

            // An admin signs in: the buttons appear.
            try await browser.navigate(page, to: monitorURL + "/login")
            try await browser.waitUntil(page, "document.getElementById('token') !== null", "the sign-in form")
            _ = try await browser.evaluate(
                page, "document.getElementById('token').value = '\(farm.token)'; document.querySelector('form').submit(); true")
            try await browser.waitUntil(page, "location.pathname === '/'", "the overview after signing in")
            try await browser.navigate(page, to: monitorURL + "/workers/e2e")
            try await browser.waitUntil(page, "\(forms) > 0", "an admin's buttons")
            let w2Commands = try await browser.strings(
                page, "[...document.querySelectorAll('#health tr[data-worker=\"e2e/w2\"] form')].map(f => f.dataset.command)")
            #expect(w2Commands == ["maintenance", "online", "retire"])

            // Its check passes once the gate opens: good, shown live.
            _ = try await browser.evaluate(page, "window.otsMark = 'not reloaded'")
            #expect(FileManager.default.createFile(atPath: gate, contents: nil))
            try await browser.waitUntil(page, "\(health("w1")) === 'good'", "w1 good after its check")
            #expect(try await browser.string(page, "window.otsMark") == "not reloaded")

            func press(_ worker: String, _ command: String, reason: String? = nil) async throws {
                let form = "document.querySelector('#health tr[data-worker=\"e2e/\(worker)\"] form[data-command=\(command)]')"
                let fill = reason.map { "\(form).querySelector('input[name=reason]').value = '\($0)'; " } ?? ""
                #expect(try await browser.evaluate(page, "\(fill)\(form).submit(); true") == "true")
            }
            try await press("w1", "maintenance", reason: "replacing the cable")
            try await browser.waitUntil(page, "\(health("w1")) === 'maintenance'", "w1 in maintenance")
            #expect(
                try await browser.string(
                    page, "document.querySelector('#health tr[data-worker=\"e2e/w1\"] [data-role=reason]').textContent")
                    == "put in maintenance by e2e: replacing the cable")
            try await press("w1", "retire")
            try await browser.waitUntil(page, "\(health("w1")) === 'retired'", "w1 retired")
            try await press("w1", "online")
            try await browser.waitUntil(page, "\(health("w1")) === 'good'", "w1 good again after its check")
            let devices = try await farm.client.devices().devices
            #expect(devices.first { $0.workerID == "e2e/w1" }?.health == .good)
            #expect(devices.first { $0.workerID == "e2e/w2" }?.health == .bad)

            // A refusal is shown, and changes nothing.
            try await browser.navigate(page, to: monitorURL + "/workers/e2e")
            try await browser.waitUntil(page, "\(forms) > 0", "the buttons again")
            _ = try await browser.evaluate(
                page,
                """
                const f = document.createElement('form'); f.method = 'post'; f.action = '/workers/e2e/w2/maintenance';
                document.body.appendChild(f); f.submit(); true
                """)
            try await browser.waitUntil(page, "document.title.startsWith('Refused')", "the refusal")
            #expect(
                try await browser.string(page, "document.getElementById('live').textContent")?.contains("reason: required") == true)

            // A page of another site cannot send commands in an admin's name.
            var forged = HTTPClientRequest(url: monitorURL + "/workers/e2e/w1/retire")
            forged.method = .POST
            forged.headers.add(name: "Cookie", value: "ots_token=\(farm.token)")
            forged.headers.add(name: "Origin", value: "http://elsewhere.example")
            let answer = try await HTTPClient.shared.execute(forged, timeout: .seconds(10))
            #expect(answer.status == .forbidden)
            #expect(try await farm.client.devices().devices.first { $0.workerID == "e2e/w1" }?.health == .good)
        }
    }
}
