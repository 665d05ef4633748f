import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OTSClient
import OTSCore
import OTSTestSupport
import Subprocess
import SystemPackage
import Testing

/// The monitor's /metrics, as Prometheus scrapes it and promtool judges it.
@Suite(.timeLimit(.minutes(10))) struct MetricsTests {
    static let promtool = ["/usr/bin/promtool", "/usr/local/bin/promtool"].first { FileManager.default.isExecutableFile(atPath: $0) }

    @Test func metricsCountTheFarmAndPassPromtool() async throws {
        let flaky = TestFarm.WorkerSpec(name: "w1", simulated: "flash_failing_tries = [1]")
        try await TestFarm.with(engine: .sqlite, workers: [flaky]) { farm in
            let (_, url) = try await farm.startMonitor()
            let submitted = try await farm.client.submit(request(device: ["shell-basics"]))
            #expect(try await farm.waitForEnd(submitted.id).verdict == .pass)
            var text = ""
            try await eventually("the monitor to count the testrun", every: .milliseconds(200), detail: text) {
                let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url + "/metrics"), timeout: .seconds(30))
                #expect(response.headers.first(name: "Content-Type")?.hasPrefix("text/plain; version=0.0.4") == true)
                text = String(buffer: try await response.body.collect(upTo: 1 << 20))
                return text.contains(#"ots_testruns_total{verdict="PASS"} 1"#)
            }
            #expect(text.contains(#"ots_testruns_total{verdict="PASS"} 1"#), "\(text)")
            #expect(text.contains(#"ots_testruns_total{verdict="FAIL"} 0"#))
            #expect(text.contains(#"ots_attempts_total{phase="flash",outcome="failed"} 1"#))
            #expect(text.contains(#"ots_attempts_total{phase="flash",outcome="ok"} 1"#))
            #expect(text.contains(#"ots_workers{state="free"} 1"#) || text.contains(#"ots_workers{state="busy"} 1"#))
            #expect(text.contains(#"ots_phase_duration_seconds_count{phase="test"} 1"#))
            #expect(text.contains(#"ots_phase_duration_seconds_count{phase="queue_wait"} 1"#))
            #expect(text.contains("ots_tasks_queued 0"))
            #expect(text.contains("ots_events_dropped_total 0"))
            #expect(text.contains("ots_monitor_backlog_events"))
            #expect(text.contains("ots_monitor_lag_seconds"))
            #expect(text.contains("ots_queue_oldest_age_seconds 0"))

            guard let promtool = Self.promtool else {
                #expect(
                    ProcessInfo.processInfo.environment["OTS_REQUIRE_PROMTOOL"] != "1", "promtool is missing; ./scripts/test.sh installs it"
                )
                return
            }
            let file = try farm.workspace.write("metrics.txt", text)
            let result = try await Subprocess.run(
                .path(FilePath(promtool)), arguments: ["check", "metrics"],
                input: .fileDescriptor(try .open(FilePath(file), .readOnly), closeAfterSpawningProcess: true),
                output: .string(limit: 1 << 20), error: .string(limit: 1 << 20))
            #expect(result.terminationStatus.isSuccess, "promtool: \(result.standardOutput) \(result.standardError)")
            #expect(
                result.standardOutput.isEmpty && result.standardError.isEmpty,
                "promtool has no complaint: \(result.standardOutput) \(result.standardError)")
        }
    }
}
