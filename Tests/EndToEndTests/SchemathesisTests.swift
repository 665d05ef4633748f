import Foundation
import NIOHTTP1
import OTSClient
import OTSCore
import Subprocess
import SystemPackage
import Testing

/// schemathesis against a real farm: requests generated from the server's
/// and the monitor's OpenAPI documents, valid and invalid, must never get a
/// server error (5xx), and every answer must be one the document
/// describes (status, content type, body schema). A fixed number of
/// examples per operation from a fixed seed keeps it deterministic and
/// short; OTS_SCHEMATHESIS_EXAMPLES runs more.
@Suite(.timeLimit(.minutes(30))) struct SchemathesisTests {
    static let seed = "20261129"
    static var examples: String {
        ProcessInfo.processInfo.environment["OTS_SCHEMATHESIS_EXAMPLES"].flatMap { Int($0) }.map(String.init) ?? "5"
    }

    /// The checks every answer gets.
    static let checks = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"

    /// The schemathesis command line, or nil when it is not installed.
    static func command() async throws -> [String]? {
        let probe = try await Subprocess.run(
            .name("python3"), arguments: ["-c", "import schemathesis"], output: .discarded, error: .discarded)
        return probe.terminationStatus.isSuccess ? ["python3", "-m", "schemathesis.cli"] : nil
    }

    /// Whether the test runs: schemathesis is installed, or the test script
    /// requires it (OTS_REQUIRE_SCHEMATHESIS=1; then a missing one fails it).
    static func wanted() async -> Bool {
        let command = try? await command()
        return command != nil || ProcessInfo.processInfo.environment["OTS_REQUIRE_SCHEMATHESIS"] == "1"
    }

    /// Runs schemathesis against the document at `url`; fails the test on
    /// any failure it reports.
    static func run(
        _ command: [String], document url: String, extra: [String], examples: String = examples, in workspace: Workspace, name: String
    ) async throws {
        let arguments =
            Array(command.dropFirst()) + [
                "run", url,
                "--checks", checks,
                "--max-examples", examples,
                "--seed", seed,
                "--phases", "examples,coverage,fuzzing",
                "--workers", "1",
                "--request-timeout", "30",
                "--no-color",
                "--generation-database", "none",
                "--report", "junit", "--report-junit-path", workspace.file("\(name).junit.xml"),
            ] + extra
        let result = try await Subprocess.run(
            .name(command[0]), arguments: Arguments(arguments), workingDirectory: FilePath(workspace.path),
            output: .string(limit: 16 * 1024 * 1024), error: .string(limit: 16 * 1024 * 1024))
        let output = result.standardOutput + result.standardError
        #expect(result.terminationStatus.isSuccess, "schemathesis found problems in the \(name):\n\(output.suffix(20_000))")
        #expect(output.contains("passed"), "schemathesis tested nothing in the \(name):\n\(output.suffix(5000))")
    }

    @Test(.enabled("schemathesis is not installed; ./scripts/test.sh installs it") { await SchemathesisTests.wanted() })
    func serverAndMonitorAnswerEveryGeneratedRequest() async throws {
        let command = try #require(
            try await Self.command(), "schemathesis is missing; ./scripts/test.sh installs it (pip install schemathesis)")
        let worker = TestFarm.WorkerSpec(name: "w1")
        // Claims wait at most a second, so generated claims do not hold the run.
        try await TestFarm.with(
            engine: .sqlite, serverSettings: ["claim_wait": "1"], workers: [worker]
        ) { farm in
            let (monitorProcess, monitor) = try await farm.startMonitor()
            // Real data for the generated requests to meet.
            let submitted = try await farm.client.submit(request(device: ["shell-basics"]))
            _ = try await farm.waitForEnd(submitted.id)

            // The worker protocol with a worker's own token, harder: every
            // number a worker sends must get an answer, never a crash.
            let enrolled = try await SecurityTests.call(
                .POST, farm.baseURL + "/api/v1/workers", token: TestFarm.enrollmentSecret,
                body: #"{"host": "fuzz", "instance": "f1", "version": "0.1.0", "pid": 1, "device": {"devicegroup": "e2e"}}"#)
            let workerToken = try #require(try JSONCoding.decoder().decode(WorkerRegistered.self, from: Data(enrolled.body.utf8)).token)
            try await Self.run(
                command, document: farm.baseURL + "/api/v1/openapi.json",
                extra: [
                    "--header", "Authorization: Bearer \(workerToken)",
                    "--include-path-regex", "^/api/v1/(events|workers/(heartbeat|claim|offline)|tasks/.*)$",
                ],
                examples: String(max(50, Int(Self.examples) ?? 5)), in: farm.workspace, name: "worker protocol")
            let planned = try await farm.client.submit(request(device: ["shell-basics"], model: "history"))
            #expect(try await farm.waitForEnd(planned.id).verdict == .pass, "a history testrun after the fuzzing")
            // The admin token may be revoked by the generated requests: this comes after.
            try await Self.run(
                command, document: farm.baseURL + "/api/v1/openapi.json",
                extra: ["--header", "Authorization: Bearer \(farm.token)"], in: farm.workspace, name: "server")
            // The live stream never ends: its answers to bad input are
            // checked by MonitorContractTests.
            try await Self.run(
                command, document: monitor + "/api/v1/openapi.json", extra: ["--exclude-path", "/api/v1/events/stream"],
                in: farm.workspace, name: "monitor")
            #expect(farm.server.process.isRunning, "the server died:\n\(farm.server.stderr.suffix(4000))")
            #expect(monitorProcess.process.isRunning, "the monitor died:\n\(monitorProcess.stderr.suffix(4000))")
        }
    }
}
