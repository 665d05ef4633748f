import Foundation
import OTSClient
import OTSCore
import Testing

/// The farm's JUnit carries the durations the worker measured: every case,
/// every suite and the whole file.
@Suite(.serialized, .timeLimit(.minutes(10))) struct FarmJUnitTimeTests {
    @Test func caseSuiteAndFileTimesAreTheRealDurations() async throws {
        try await TestFarm.with(engine: .sqlite, workers: [TestFarm.WorkerSpec(name: "w1")]) { farm in
            // uneven-sets: cases that sleep 1.2, 0.9, 0.7 and 0.5 s, each
            // beside a near-instant one.
            let submitted = try await farm.client.submit(request(device: ["uneven-sets"], model: "perpackage"))
            let ended = try await farm.waitForEnd(submitted.id)
            #expect(ended.verdict == .pass, "\(ended.summaryText)\n\(farm.logs)")
            let junit = String(decoding: try await farm.client.results(id: submitted.id, format: "junit"), as: UTF8.self)

            // Whole seconds could only give 0 or 1 for a 0.5 s case.
            let sleeps = ["boot-sequence-sleeps": 1.2, "network-sleeps": 0.9, "storage-sleeps": 0.7, "display-sleeps": 0.5]
            for (name, seconds) in sleeps {
                let time = try #require(Self.time(of: "testcase", named: name, in: junit), "\(name) in\n\(junit)")
                #expect(time >= seconds - 0.05 && time < seconds + 0.5, "\(name): \(time) s")
            }
            let display = try #require(Self.time(of: "testsuite", named: "uneven-sets.display", in: junit))
            #expect(display >= 0.45 && display < 1.5, "the display set: \(display) s")
            let total = try #require(Self.time(of: "testsuites", named: submitted.id, in: junit))
            #expect(total >= 3.2, "the whole file: \(total) s")
        }
    }

    /// The `time` attribute of the element of this name.
    static func time(of element: String, named name: String, in junit: String) -> Double? {
        for line in junit.split(separator: "\n") where line.contains("<\(element) ") && line.contains(#"name="\#(name)""#) {
            guard let start = line.range(of: #" time=""#) else { continue }
            let rest = line[start.upperBound...]
            return rest.firstIndex(of: "\"").flatMap { Double(rest[..<$0]) }
        }
        return nil
    }
}
