import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OTSClient
import OTSCore
import OTSTestSupport
import Testing

/// The monitor's dashboard in a real headless Chromium against a running
/// farm, and its pages over plain HTTP.
@Suite(.serialized, .timeLimit(.minutes(10))) struct DashboardTests {
    @Test(.enabled(if: Browser.wanted, "chromium is not installed; ./scripts/test.sh installs it"))
    func theOverviewFollowsATestrunLiveAndRecoversAfterTheMonitorRestarts() async throws {
        let browser = try #require(try await Browser.launch())
        defer { browser.stop() }
        let gate = FileManager.default.temporaryDirectory.path + "/ots-gate-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: gate) }
        var first = TestFarm.WorkerSpec(name: "w1")
        first.environment = ["OTS_GATE": gate]
        var second = TestFarm.WorkerSpec(name: "w2")
        second.environment = ["OTS_GATE": gate]
        try await TestFarm.with(engine: .sqlite, workers: [first, second]) { farm in
            let (monitor, monitorURL) = try await farm.startMonitor()
            let page = try await browser.open(monitorURL + "/")

            // The overview lists the workers.
            try await browser.waitUntil(
                page, "document.querySelectorAll('#workers tr[data-worker]').length === 2", "the overview to list both workers")
            let workers = try await browser.strings(
                page, "[...document.querySelectorAll('#workers tr[data-worker]')].map(r => r.dataset.worker)")
            #expect(workers.map { $0.split(separator: "/").last.map(String.init) ?? "" }.sorted() == ["w1", "w2"])
            try await browser.waitUntil(page, "document.getElementById('live-status').dataset.state === 'up'", "the stream to connect")

            // A testrun submitted now appears, runs and reaches its verdict
            // on the page, which is never reloaded.
            _ = try await browser.evaluate(page, "window.otsMark = 'not reloaded'")
            let submitted = try await farm.client.submit(request(device: ["gated"]))
            let verdict = "document.querySelector('#testrun-\(submitted.id) [data-role=verdict]')?.textContent.trim()"
            try await browser.waitUntil(page, "\(verdict) === 'running'", "the testrun to appear running")
            FileManager.default.createFile(atPath: gate, contents: nil)
            try await browser.waitUntil(page, "\(verdict) === 'finished PASS'", "the testrun's verdict")
            #expect(try await browser.string(page, "window.otsMark") == "not reloaded")

            // The monitor restarts on the same port: the page says so, comes
            // back by itself and goes on following the farm.
            let port = try #require(URLComponents(string: monitorURL)?.port)
            monitor.stop()
            try await browser.waitUntil(page, "document.getElementById('live-status').dataset.state === 'down'", "the page to notice")
            let (restarted, _) = try await farm.startMonitor("monitor-again", port: port)
            defer { restarted.stop() }
            try await browser.waitUntil(
                page, "document.getElementById('live-status').dataset.state === 'up'", timeout: 45, "the page to reconnect")
            let next = try await farm.client.submit(request(device: ["shell-basics"]))
            try await browser.waitUntil(
                page, "document.querySelector('#testrun-\(next.id) [data-role=verdict]')?.textContent.trim() === 'finished PASS'",
                "the next testrun's verdict after the restart")
            #expect(try await browser.string(page, "window.otsMark") == "not reloaded")

            // The overview's markup: one h1, every control labelled, every
            // chart described, every table captioned.
            let checks = try await browser.evaluate(
                page,
                """
                [document.documentElement.lang,
                 document.querySelectorAll('h1').length,
                 [...document.querySelectorAll('select')].every(s => s.labels.length > 0),
                 [...document.querySelectorAll('svg')].every(s => s.getAttribute('role') === 'img' && s.getAttribute('aria-label')),
                 [...document.querySelectorAll('table')].every(t => t.caption && t.caption.textContent.trim().length > 0),
                 document.querySelectorAll('svg.verdict-bar rect.pass').length]
                """)
            #expect(checks.filter { !$0.isWhitespace } == #"["en",1,true,true,true,1]"#)
        }
    }

    @Test(.enabled(if: Browser.wanted, "chromium is not installed; ./scripts/test.sh installs it"))
    func theTestrunPageDrawsItsTimelineLive() async throws {
        let browser = try #require(try await Browser.launch())
        defer { browser.stop() }
        let gate = FileManager.default.temporaryDirectory.path + "/ots-gate-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: gate) }
        var worker = TestFarm.WorkerSpec(name: "w1")
        worker.environment = ["OTS_GATE": gate]
        try await TestFarm.with(engine: .sqlite, workers: [worker]) { farm in
            let (_, monitorURL) = try await farm.startMonitor()
            var asked = request(device: ["gated", "shell-basics"], model: "single")
            asked.requestID = "build-77"
            let submitted = try await farm.client.submit(asked)
            _ = try await farm.waitFor(submitted.id, "the gated step to run") { $0.tasks?.first?.phase == "test" }
            let page = try await browser.open(monitorURL + "/testruns/" + submitted.id)
            #expect(try await browser.string(page, "document.querySelector('[data-role=request-id]').textContent") == "build-77")
            try await browser.waitUntil(page, "document.getElementById('verdict')?.textContent.trim() === 'running'", "the running testrun")
            try await browser.waitUntil(
                page, "document.querySelectorAll('svg.timeline rect.segment.flash').length === 1", "the flash try on the timeline")
            #expect(try await browser.evaluate(page, "document.querySelectorAll('svg.timeline rect.segment.running').length > 0") == "true")
            _ = try await browser.evaluate(page, "window.otsMark = 'not reloaded'")

            FileManager.default.createFile(atPath: gate, contents: nil)
            try await browser.waitUntil(page, "document.getElementById('verdict')?.textContent.trim() === 'finished PASS'", "the verdict")
            try await browser.waitUntil(
                page, "document.querySelectorAll('#packages tbody tr').length === 2", "both packages' results")
            let packages = try await browser.strings(page, "[...document.querySelectorAll('#packages tbody th')].map(c => c.textContent)")
            #expect(packages.sorted() == ["gated", "shell-basics"])
            // One queue wait, one flash and one boot try, two packages.
            let kinds = try await browser.strings(
                page, "[...document.querySelectorAll('svg.timeline rect.segment')].map(r => r.getAttribute('class'))")
            #expect(kinds.filter { $0.contains("test") }.count == 2, "\(kinds)")
            #expect(kinds.filter { $0.contains("boot") }.count == 1)
            #expect(kinds.filter { $0.contains("queue") }.count == 1)
            #expect(!kinds.contains { $0.contains("running") }, "nothing runs once the testrun ended: \(kinds)")
            #expect(try await browser.string(page, "window.otsMark") == "not reloaded")
        }
    }

    @Test func pagesAnswerOverHTTPWithEscapedTextAndClearRefusals() async throws {
        try await TestFarm.with(engine: .sqlite, workers: [TestFarm.WorkerSpec(name: "w1")]) { farm in
            let (_, monitorURL) = try await farm.startMonitor()
            var hostile = request(device: ["failing-case"])
            hostile.requestor = "<script>alert(1)</script>"
            let submitted = try await farm.client.submit(hostile)
            _ = try await farm.waitForEnd(submitted.id)
            let client = OTSClient(baseURL: monitorURL)
            // The monitor has stored the end once the timeline has it.
            try await eventually("the monitor to store the testrun's end", within: .seconds(10)) {
                (try? await client.events(testrun: submitted.id, type: "testrun.finished"))?.isEmpty == false
            }

            let overview = try await get(monitorURL + "/")
            #expect(overview.status == 200)
            #expect(overview.contentType == "text/html; charset=utf-8")
            #expect(overview.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
            #expect(!overview.body.contains("<script>alert(1)"))

            let testrun = try await get(monitorURL + "/testruns/" + submitted.id)
            #expect(testrun.status == 200)
            #expect(testrun.body.contains("finished FAIL"), "\(testrun.body.prefix(3000))")
            // The failure links to its error page, which says who must act.
            let link = try #require(
                testrun.body.range(of: #"href="/errors/[^"]+""#, options: .regularExpression).map {
                    String(testrun.body[$0].dropFirst(6).dropLast())
                })
            let error = try await get(monitorURL + link)
            #expect(error.status == 200, "\(link)")
            #expect(
                error.body.contains("the test&#39;s authors or the developers")
                    || error.body.contains("the test's authors or the developers"))
            #expect(error.body.contains(submitted.id))
            let worker = try await get(monitorURL + "/workers/e2e")  // the test workers' host

            #expect(worker.status == 200)
            #expect(worker.body.contains(submitted.id), "its recent tasks")
            #expect(worker.body.contains(#"data-worker="e2e/w1""#), "its instance")

            let missing = try await get(monitorURL + "/testruns/no-such-testrun")
            #expect(missing.status == 404)
            #expect(missing.body.contains("no testrun no-such-testrun"))
            let badWindow = try await get(monitorURL + "/?window=forever")
            #expect(badWindow.status == 400)
            #expect(badWindow.body.contains("window: &#39;forever&#39;") || badWindow.body.contains("window: 'forever'"))
            let script = try await get(monitorURL + "/static/dashboard.js")
            #expect(script.status == 200)
            #expect(script.contentType == "text/javascript; charset=utf-8")
            #expect(try await get(monitorURL + "/static/nothing.js").status == 404)
        }
    }

    struct Page {
        var status: Int
        var contentType: String?
        var body: String
    }

    private func get(_ url: String) async throws -> Page {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 8 * 1024 * 1024)
        return Page(
            status: Int(response.status.code), contentType: response.headers.first(name: "content-type"), body: String(buffer: body))
    }
}
