import Foundation
import Logging
import OTSClient
import OTSCore
import OTSStore
import OTSTestSupport
import Testing

/// `ots demo` and `ots up`: the whole farm in one process, as a newcomer
/// and an operator run it.
@Suite(.serialized, .timeLimit(.minutes(10))) struct EmbeddedFarmTests {
    @Test func demoRunsTheExampleFromACleanFolderAndResumesItsHistory() async throws {
        let workspace = try Workspace()
        #expect(try workspace.contents().isEmpty)
        let first = try await OTSBinary.run(["demo", "--exit", "--port", "0", "--workers", "2"], in: workspace.path)
        #expect(first.status == 0, "\(first.stdout)\n\(first.stderr)")
        #expect(first.stdout.contains("verdict: PASS"), "\(first.stdout)")
        #expect(first.stdout.contains("testruns   1 (active 0, queued 0)"), "the statistics count the testrun: \(first.stdout)")
        #expect(first.stdout.contains("verdicts   PASS 1 (100.0%), FAIL 0, ERROR 0"), "\(first.stdout)")
        #expect(first.stdout.contains("dashboard:  http://127.0.0.1:"), "\(first.stdout)")
        #expect(first.stderr.contains("] finished  tasks 3/3  packages 3/3"), "the progress of ots submit --watch: \(first.stderr)")
        // The demo's packages are put where the simulated devices read them.
        for package in ["shell-basics", "filesystem-checks", "process-checks"] {
            #expect(workspace.exists("ots-data/packages/\(package)/tests.xml"))
        }
        #expect(try await testruns(in: workspace) == ["PASS"])

        // A second run on the same folder resumes with all history.
        let second = try await OTSBinary.run(["demo", "--exit", "--port", "0", "--workers", "2"], in: workspace.path)
        #expect(second.status == 0, "\(second.stdout)\n\(second.stderr)")
        #expect(second.stdout.contains("testruns   2 (active 0, queued 0)"), "\(second.stdout)")
        #expect(second.stdout.contains("verdicts   PASS 2 (100.0%)"), "\(second.stdout)")
        #expect(try await testruns(in: workspace) == ["PASS", "PASS"])
    }

    @Test func upServesTheFarmOwnsItsFolderAndStopsOnControlC() async throws {
        let workspace = try Workspace()
        let data = workspace.file("farm")
        // Debug logs say which part did not stop, should one not.
        let up = try ChildProcess(
            ["up", "--port", "0", "--workers", "3", "--data", data], environment: ["OTS_LOG_LEVEL": "debug"], logs: workspace.file("up"))
        defer { up.stop() }
        let endpoints = try await waitForEndpoints(up)
        // Reading is open; submitting takes the token ots up keeps in the folder.
        let token = try String(contentsOfFile: data + "/token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let permissions = try FileManager.default.attributesOfItem(atPath: data + "/token")[.posixPermissions] as? Int
        #expect(permissions == 0o600, "only its owner reads the token")
        #expect(up.stdout.contains("OTS_TOKEN=$(cat \(data)/token)"), "\(up.stdout)")
        let server = OTSClient(baseURL: endpoints.server, token: token)
        let monitor = OTSClient(baseURL: endpoints.monitor)
        let anonymous = OTSClient(baseURL: endpoints.server)
        #expect(try await anonymous.testruns().testruns.isEmpty, "reading needs no token")
        do {
            _ = try await anonymous.submit(
                TestrunRequest(device: DeviceProperties(devicegroup: "demo"), packages: .init(device: ["shell-basics"])))
            Issue.record("a submission without the token was accepted")
        } catch {
            #expect(error.status == 401)
        }

        // The three simulated instances serve the demo device group.
        try await eventually("three workers online", every: .milliseconds(200)) {
            try await monitor.workers().workers.filter { $0.state != "offline" }.count == 3
        }
        let request = TestrunRequest(
            device: DeviceProperties(devicegroup: "demo"),
            packages: .init(device: ["shell-basics", "process-checks"]))
        let submitted = try await server.submit(request)
        let final = try await eventually("the testrun to end", within: .seconds(60), every: .milliseconds(200)) {
            let view = try await server.testrun(id: submitted.id)
            return view.isEnded ? view : nil
        }
        #expect(final.verdict == .pass)

        // One farm per folder.
        let second = try await OTSBinary.run(["up", "--port", "0", "--data", data], in: workspace.path)
        #expect(second.status == 1)
        #expect(second.stderr.contains("another ots up or ots demo is using \(data)"), "\(second.stderr)")

        up.kill(SIGINT)
        let stopped = try await up.waitForExit(timeout: 30)
        try #require(stopped, "ots up stops on SIGINT: \(up.stderr.suffix(6000))")
        #expect(up.process.terminationStatus == 0, "\(up.stderr)")
        #expect(up.stdout.contains("OTS is down"))

        // The folder is free again, and the farm resumes with its testrun.
        let again = try ChildProcess(["up", "--port", "0", "--workers", "1", "--data", data], logs: workspace.file("again"))
        defer { again.stop() }
        let resumed = try await waitForEndpoints(again)
        let view = try await OTSClient(baseURL: resumed.server).testrun(id: submitted.id)
        #expect(view.verdict == .pass)
        let kept = try String(contentsOfFile: data + "/token", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(kept == token, "the farm keeps its token across restarts")
        do {
            _ = try await OTSClient(baseURL: resumed.server, token: token).cancel(id: submitted.id)
            Issue.record("an ended testrun was cancelled")
        } catch {
            #expect(error.status == 409, "the kept token still works, to the testrun's state: \(error)")
        }
    }

    // MARK: helpers

    private func testruns(in workspace: Workspace) async throws -> [String?] {
        var logger = Logger(label: "ots.e2e")
        logger.logLevel = .warning
        let store = try await Store.open(.sqlite(path: workspace.file("ots-data/ots.sqlite")), logger: logger, migrate: false)
        let verdicts = try await store.transaction { tx in try await tx.testruns(TestrunFilter()).map(\.verdict) }
        await store.close()
        return verdicts
    }

    private func waitForEndpoints(_ process: ChildProcess) async throws -> (server: String, monitor: String) {
        try await eventually("ots up to print its URLs", within: .seconds(60), every: .milliseconds(200)) {
            let lines = process.stdout.split(separator: "\n")
            func url(after label: String) -> String? {
                lines.first { $0.trimmingCharacters(in: .whitespaces).hasPrefix(label) }
                    .flatMap { $0.split(separator: " ").last.map(String.init) }
            }
            guard let api = url(after: "API"), let dashboard = url(after: "dashboard") else { return nil }
            return (String(api.dropLast("/api/v1".count)), String(dashboard.dropLast()))
        }
    }
}
