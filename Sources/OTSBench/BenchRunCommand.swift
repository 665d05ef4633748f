import ArgumentParser
import Foundation
import OTSCore

/// `ots bench run`: whole-process time and peak memory of `ots run` over a
/// definition of many `/bin/true` steps.
struct BenchRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Time `ots run` over a definition of N /bin/true steps (whole process: wall time and peak RSS)."
    )

    @Option(help: "Steps in the definition.")
    var steps = 1000

    @Option(help: "Steps per case.")
    var stepsPerCase = 10

    @Option(help: "How many times to run it; the report gives medians.")
    var repetitions = 5

    func validate() throws {
        guard steps > 0, stepsPerCase > 0, repetitions > 0 else {
            throw ValidationError("--steps, --steps-per-case and --repetitions must be positive")
        }
    }

    func run() async throws {
        let folder = FileManager.default.temporaryDirectory.path + "/ots-bench-run-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let definition = folder + "/tests.xml"
        try Data(Self.definition(steps: steps, stepsPerCase: stepsPerCase).utf8).write(to: URL(fileURLWithPath: definition))
        let executable = ownExecutable

        var wall: [Double] = []
        var rss: [Double] = []
        var floor: [Double] = []
        for index in 1...repetitions {
            // The floor, measured beside it: the same number of
            // `/bin/sh -c /bin/true` spawned and reaped one after another.
            let floorStart = ContinuousClock.now
            for _ in 0..<steps {
                _ = try ChildMeasurement.run(["/bin/sh", "-c", "/bin/true"])
            }
            floor.append((ContinuousClock.now - floorStart) / .seconds(1))
            let measured = try ChildMeasurement.run(
                [executable, "run", "-a", "-H", "-f", definition, "-o", folder + "/results-\(index).xml"]
            )
            guard measured.exitCode == 0 else {
                printError("ots bench run: ots run exited with \(measured.exitCode)")
                throw ExitCode(1)
            }
            wall.append(measured.wallSeconds)
            rss.append(Double(measured.peakRSSKilobytes) / 1024)
            printError(
                "run \(index)/\(repetitions): \(String(format: "%.2f", measured.wallSeconds)) s, \(String(format: "%.1f", Double(measured.peakRSSKilobytes) / 1024)) MiB"
            )
        }
        print("ots run over \(steps) /bin/true steps (\(stepsPerCase) a case), \(repetitions) runs")
        print(
            "  wall time: median \(String(format: "%.3f", median(wall))) s (min \(String(format: "%.3f", wall.min()!)), max \(String(format: "%.3f", wall.max()!)))"
        )
        print("  per step:  median \(String(format: "%.2f", median(wall) * 1000 / Double(steps))) ms")
        print(
            "  floor (\(steps) × /bin/sh -c /bin/true spawned in a loop): median \(String(format: "%.3f", median(floor))) s; ots run takes \(String(format: "%.2f", median(wall) / median(floor)))× that"
        )
        print("  peak RSS:  median \(String(format: "%.1f", median(rss))) MiB (max \(String(format: "%.1f", rss.max()!)))")
    }

    static func definition(steps: Int, stepsPerCase: Int) -> String {
        var xml =
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testdefinition version=\"1.0\">\n  <suite name=\"bench\">\n    <set name=\"true\">\n"
        var written = 0
        var caseNumber = 0
        while written < steps {
            caseNumber += 1
            xml += "      <case name=\"case-\(caseNumber)\">\n"
            for _ in 0..<min(stepsPerCase, steps - written) {
                xml += "        <step>/bin/true</step>\n"
                written += 1
            }
            xml += "      </case>\n"
        }
        xml += "    </set>\n  </suite>\n</testdefinition>\n"
        return xml
    }

    private func median(_ values: [Double]) -> Double {
        Percentiles(values).meanMedian ?? 0
    }
}
