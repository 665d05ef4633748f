import ArgumentParser
import Foundation
import Logging
import OTSCore
import OTSMonitor
import OTSServer
import OTSStore
import TestDefinition

/// `ots bench results`: the monitor's case results at scale. Stores a
/// million case results through the monitor's own ingest (as `results.stored`
/// messages on the queue, in batches), then times the answers the issue
/// bounds (a case's history, the flaky list, a testrun's likely causes),
/// and the server storing one upload of 10,000 cases.
struct BenchResultsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "results",
        abstract:
            "Measure case results: a case's history, the flaky list and a testrun's likely causes over many stored results; a large upload.",
        discussion: """
            Fills a new database (a new SQLite file, or the empty PostgreSQL database given) with case results of a farm: \
            2 device groups of 10 instances, 10 packages of 100 cases, a new image every 500 testruns, one bad instance, \
            one image that breaks a case, five flaky cases and a little noise; each testrun one package on one instance. \
            They go through the monitor's ingest as the server's results.stored messages would. Then each query runs \
            --repetitions times on random cases and testruns, and the server stores --upload cases in one results file \
            (5 times), which the monitor then ingests.
            """
    )

    @Option(help: "The database: sqlite:///path or postgres://... (default: a new SQLite file). Use an empty database.")
    var database: String?

    @Option(help: "Case results to store first (100 a testrun).")
    var cases = 1_000_000

    @Option(help: "Times each query runs.")
    var repetitions = 200

    @Option(help: "Cases in the uploaded results file.")
    var upload = 10_000

    func validate() throws {
        guard cases >= 100, repetitions > 0, upload > 0 else {
            throw ValidationError("--cases must be at least 100; --repetitions and --upload positive")
        }
    }

    func run() async throws {
        var logger = Logger(label: "ots.bench")
        logger.logLevel = .warning
        let folder = FileManager.default.temporaryDirectory.path + "/ots-bench-results-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let url = try database.map(parseDatabaseURL) ?? .sqlite(path: folder + "/ots.sqlite")
        let store = try await Store.open(url, logger: logger)
        do {
            try await measure(store: store, url: url, logger: logger)
        } catch {
            await store.close()
            throw error
        }
        await store.close()
    }

    private func measure(store: Store, url: DatabaseURL, logger: Logger) async throws {
        var configuration = MonitorConfiguration()
        configuration.database = url
        let ingest = Ingest(store: store, configuration: configuration, logger: logger)
        let farm = ResultsFarm(testruns: cases / 100)
        let clock = ContinuousClock()
        let fillStart = clock.now
        var ingestTime = Duration.zero
        for start in stride(from: 0, to: farm.testruns, by: 500) {
            let messages = try (start..<min(start + 500, farm.testruns)).map(farm.message)
            try await store.transaction { tx in try await tx.append(messages, at: farm.now) }
            let began = clock.now
            while try await ingest.next(at: farm.now) > 0 {}
            ingestTime += clock.now - began
            if start % 10_000 == 0 { printError("… \(start * 100) case results stored") }
        }
        let fill = clock.now - fillStart
        let queries = CaseQueries(store: store, configuration: configuration)
        var random = SystemRandomNumberGenerator()
        func time(_ body: () async throws -> Void) async throws -> Double {
            let began = clock.now
            try await body()
            return (clock.now - began) / .seconds(1)
        }
        var history: [Double] = []
        var causes: [Double] = []
        var flaky: [Double] = []
        var failures = 0
        var flakyCount = 0
        for _ in 0..<repetitions {
            let key = farm.randomCase(using: &random)
            history.append(
                try await time {
                    _ = try JSONCoding.encoder().encode(
                        try await queries.history(package: key.package, set: key.set, testCase: key.testCase, deviceGroup: nil, limit: 50))
                })
            let testrun = "bench-\(Int.random(in: 0..<farm.testruns, using: &random))"
            causes.append(
                try await time {
                    let list = try await queries.causes(testrun: testrun)
                    failures += list?.failures.count ?? 0
                    _ = try JSONCoding.encoder().encode(list)
                })
            flaky.append(
                try await time {
                    let list = try await queries.flaky(deviceGroup: nil)
                    flakyCount = list.cases.count
                    _ = try JSONCoding.encoder().encode(list)
                })
        }
        let uploads = try await uploadTimes(store: store, ingest: ingest, logger: logger)
        func line(_ name: String, _ values: [Double]) -> String {
            let p = Percentiles(values)
            return "  \(name.padding(toLength: 34, withPad: " ", startingAt: 0))"
                + String(
                    format: "median %7.1f ms   p95 %7.1f ms   max %7.1f ms", (p.median ?? 0) * 1000, (p.percentile(0.95) ?? 0) * 1000,
                    (p.sorted.last ?? 0) * 1000)
        }
        print(
            "case results on \(store.dialect.rawValue) (\(url)): \(farm.testruns * 100) stored in \(String(format: "%.0f", fill / .seconds(1))) s (\(String(format: "%.0f", Double(farm.testruns * 100) / (ingestTime / .seconds(1)))) cases/s through the monitor's ingest)"
        )
        print("\(repetitions) times each, on random cases and testruns:")
        print(line("a case's history (newest 50)", history))
        print(
            line("a testrun's likely causes", causes)
                + String(format: "   (%.1f failures a testrun)", Double(failures) / Double(repetitions)))
        print(line("the flaky list", flaky) + "   (\(flakyCount) flaky cases)")
        print("an upload of \(upload) cases, 5 times:")
        print(line("stored by the server", uploads.server))
        print(line("ingested by the monitor", uploads.monitor))
    }

    /// The server storing one results file of `upload` cases (parsed, its
    /// long outputs kept, its results.stored messages queued), five times;
    /// and the monitor ingesting each.
    private func uploadTimes(store: Store, ingest: Ingest, logger: Logger) async throws -> (server: [Double], monitor: [Double]) {
        let farm = Farm(store: store, configuration: ServerConfiguration(), logger: logger)
        let registration = WorkerRegistration(
            host: "bench", instance: "uploader", pid: 1, device: DeviceProperties(devicegroup: "uploads", devicename: "u1"))
        let worker = try await farm.register(registration).workerID
        let xml = Data(ResultsWriter.xml(ResultsFarm.resultsFile(cases: upload), fractionalSeconds: true).utf8)
        let clock = ContinuousClock()
        var server: [Double] = []
        var monitor: [Double] = []
        for _ in 0..<5 {
            var request = TestrunRequest(device: DeviceProperties(devicegroup: "uploads"), packages: .init(device: ["big"]))
            request.image = "http://images/build-1.img"
            _ = try await farm.submit(request)
            guard let task = try await farm.claim(workerID: worker, wait: .zero) else {
                throw ValidationError("the upload benchmark's task was not claimed")
            }
            while try await ingest.next() > 0 {}
            let began = clock.now
            _ = try await farm.saveResults(taskID: task.taskID, workerID: worker, package: "big", xml: xml)
            server.append((clock.now - began) / .seconds(1))
            let ingested = clock.now
            while try await ingest.next() > 0 {}
            monitor.append((clock.now - ingested) / .seconds(1))
        }
        return (server, monitor)
    }
}

/// The farm the benchmark stores the results of: which instance, image and
/// package each testrun had, and each case's result there, from a seed.
struct ResultsFarm: Sendable {
    let testruns: Int
    let now = Date()
    static let groups = ["phones", "tablets"]
    static let packages = 10
    static let sets = 5
    static let casesPerSet = 20

    func group(_ testrun: Int) -> String { Self.groups[testrun % 2] }
    func device(_ testrun: Int) -> Int { (testrun / 2) % 10 }
    func package(_ testrun: Int) -> Int { (testrun / 20) % Self.packages }
    func image(_ testrun: Int) -> Int { testrun / 500 }

    /// Spread over the last 30 days, in testrun order.
    func time(_ testrun: Int) -> Date {
        now.addingTimeInterval(-30 * 86_400 + Double(testrun) * 30 * 86_400 / Double(max(1, testruns)))
    }

    /// Whether a case fails in a testrun: instance 3 of phones fails a
    /// tenth of its cases; from image 12 on, one case fails everywhere;
    /// five cases fail three runs in ten; and one run in a thousand fails
    /// at random (deterministically, from the testrun and case).
    func fails(testrun: Int, set: Int, testCase: Int) -> Bool {
        let package = package(testrun)
        let index = set * Self.casesPerSet + testCase
        if group(testrun) == "phones" && device(testrun) == 3 && index % 10 == 0 { return true }
        if package == 4 && set == 2 && testCase == 5 && image(testrun) >= 12 { return true }
        var hash = UInt64(truncatingIfNeeded: testrun &* 1_000_003 &+ package &* 7919 &+ index)
        hash = (hash ^ (hash >> 30)) &* 0xBF58_476D_1CE4_E5B9
        hash = (hash ^ (hash >> 27)) &* 0x94D0_49BB_1331_11EB
        hash ^= hash >> 31
        if package == 1 && set == 0 && testCase < 5 { return hash % 10 < 3 }
        return hash % 1000 == 0
    }

    /// Testrun `n`'s upload as the server queues it.
    func message(_ n: Int) throws -> (id: String, payload: String) {
        let group = group(n)
        let worker = "rack-\(group)/\(group)-\(device(n))"
        var event = MonitorEvent(
            type: .resultsStored, emittedAt: time(n), sender: .this("server"), testrunID: "bench-\(n)", taskID: "bench-task-\(n)",
            attempt: 1)
        event.receivedAt = time(n)
        event.package = "pkg-\(package(n))"
        var cases: [CaseRecord] = []
        for set in 0..<Self.sets {
            for testCase in 0..<Self.casesPerSet {
                let failed = fails(testrun: n, set: set, testCase: testCase)
                cases.append(
                    CaseRecord(
                        set: "set-\(set)", testCase: "case-\(testCase)", ordinal: cases.count, result: failed ? "FAIL" : "PASS",
                        durationMs: 120,
                        failureInfo: failed ? "expected 0, got 1" : nil,
                        steps: [
                            StepRecord(
                                command: "check-\(set)-\(testCase)", result: failed ? "FAIL" : "PASS", returnCode: failed ? 1 : 0,
                                durationMs: 120, stdout: failed ? "value out of range" : "ok")
                        ]))
            }
        }
        let batch = ResultsBatch(
            upload: "bench-upload-\(n)", part: 1, parts: 1,
            run: RunContext(
                worker: worker, device: DeviceProperties(devicegroup: group, devicename: "\(group)-\(device(n))"),
                image: "http://images/build-\(image(n)).img", swProduct: "bench-os"),
            files: [], cases: cases)
        return (event.id, try JSONCoding.string(ResultsMessage(event: event, batch: batch)))
    }

    /// A random case of the farm.
    func randomCase(using random: inout SystemRandomNumberGenerator) -> (package: String, set: String, testCase: String) {
        (
            "pkg-\(Int.random(in: 0..<Self.packages, using: &random))", "set-\(Int.random(in: 0..<Self.sets, using: &random))",
            "case-\(Int.random(in: 0..<Self.casesPerSet, using: &random))"
        )
    }

    /// A results file of `cases` cases in sets of 100: one in a hundred
    /// fails, with 3,000 characters of output (kept whole as a file).
    static func resultsFile(cases: Int) -> TestResults {
        let begin = Date()
        let output = String(repeating: "a line of output from the failing step\n", count: 80)
        var sets: [SetResult] = []
        for start in stride(from: 0, to: cases, by: 100) {
            sets.append(
                SetResult(
                    attributes: GeneralAttributes(name: "set-\(start / 100)"),
                    cases: (start..<min(start + 100, cases)).map { index in
                        let failed = index % 100 == 99
                        return CaseResult(
                            attributes: GeneralAttributes(name: "case-\(index)"), result: failed ? .fail : .pass,
                            steps: [
                                StepResult(
                                    command: "check \(index)", result: failed ? .fail : .pass, returnCode: failed ? 1 : 0, start: begin,
                                    end: begin.addingTimeInterval(0.01), stdout: failed ? output : "ok")
                            ])
                    }))
        }
        return TestResults(suites: [SuiteResult(attributes: GeneralAttributes(name: "big"), sets: sets)])
    }
}
