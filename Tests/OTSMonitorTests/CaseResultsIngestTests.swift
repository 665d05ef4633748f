import Foundation
import OTSCore
import OTSStore
import Testing

@testable import OTSMonitor

/// What the monitor stores of the case results it hears of: rows with
/// where they ran, each once; states of each case with its flakiness
/// announced on the queue; causes; flashes and boots as cases.
@Suite struct CaseResultsIngestTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)
    static let server = MonitorEvent.Sender(host: "srv", instance: "server", pid: 1)

    /// A `results.stored` message of an upload: one case result a `cases` entry (`SET/CASE RESULT`).
    func stored(
        testrun: String, task: String, package: String = "p", worker: String = "rack/a", image: String = "img-1", cases: [String],
        upload: String = UUID().uuidString, part: Int = 1, parts: Int = 1, files: [FileReference]? = nil, at offset: Double = 0
    ) throws -> (id: String, payload: String) {
        var event = MonitorEvent(
            type: .resultsStored, emittedAt: start.addingTimeInterval(offset), sender: Self.server, testrunID: testrun, taskID: task,
            attempt: 1)
        event.receivedAt = start.addingTimeInterval(offset)
        event.package = package
        let records = cases.enumerated().map { index, text in
            let words = text.split(separator: " ")
            let names = words[0].split(separator: "/").map(String.init)
            let result = String(words[1])
            return CaseRecord(
                set: names[0], testCase: names[1], ordinal: (part - 1) * 100 + index, result: result, durationMs: 40,
                failureInfo: result == "FAIL" ? "it failed" : nil,
                steps: [
                    StepRecord(
                        command: "run \(names[1])", result: result, returnCode: result == "FAIL" ? 1 : 0, stdout: "out of \(names[1])")
                ])
        }
        let batch = ResultsBatch(
            upload: upload, part: part, parts: parts,
            run: RunContext(
                worker: worker,
                device: DeviceProperties(devicegroup: "lab", devicename: worker.split(separator: "/").last.map(String.init)), image: image,
                imageChecksum: nil, swProduct: "os"),
            files: files, cases: records)
        return (event.id, try JSONCoding.string(ResultsMessage(event: event, batch: batch)))
    }

    func message(_ event: MonitorEvent) throws -> (id: String, payload: String) {
        (event.id, try JSONCoding.string(event))
    }

    func append(_ messages: [(id: String, payload: String)], to store: Store) async throws {
        try await store.transaction { tx in try await tx.append(messages) }
    }

    /// Takes everything off the queue, the monitor's own events too.
    func drain(_ ingest: Ingest) async throws {
        while try await ingest.next(at: start) > 0 {}
    }

    func ingest(_ store: Store, _ configuration: MonitorConfiguration = MonitorConfiguration()) -> Ingest {
        Ingest(store: store, configuration: configuration, logger: TestStore.logger)
    }

    @Test func theCasesOfAnUploadAreStoredWithWhereTheyRanOnce() async throws {
        try await TestStore.with { store in
            let upload = UUID().uuidString
            let first = try stored(
                testrun: "r1", task: "k1", cases: ["s/a PASS", "s/b FAIL"], upload: upload, part: 1, parts: 2,
                files: [FileReference(name: "log.txt", size: 12)])
            let second = try stored(testrun: "r1", task: "k1", cases: ["t/c N/A"], upload: upload, part: 2, parts: 2)
            // Sent twice (a replayed batch): stored once.
            try await append([first, second, first], to: store)
            try await drain(ingest(store))
            try await append([second], to: store)
            try await drain(ingest(store))
            let rows = try await store.read { tx in try await tx.caseResults(testrunID: "r1", CaseResultFilter(steps: true)) }
            #expect(rows.map { "\($0.setName)/\($0.caseName) \($0.result)" } == ["s/a PASS", "s/b FAIL", "t/c N/A"])
            let failed = rows[1]
            #expect(failed.worker == "rack/a" && failed.deviceGroup == "lab" && failed.deviceName == "a")
            #expect(failed.image == "img-1" && failed.swProduct == "os")
            #expect(failed.recordedAt == start)
            #expect(failed.failureInfo == "it failed")
            let steps = try JSONCoding.decoder().decode([StepRecord].self, from: Data(failed.steps.utf8))
            #expect(steps.map(\.command) == ["run b"] && steps.first?.returnCode == 1 && steps.first?.stdout == "out of b")
            let files = try await store.read { tx in try await tx.caseFiles(testrunID: "r1") }
            #expect(files.map(\.files) == [#"[{"name":"log.txt","size":12}]"#])
            // The event store keeps the event, not the cases beside it.
            let events = try await store.read { tx in try await tx.events(type: EventType.resultsStored.rawValue) }
            #expect(events.count == 2)
            #expect(events.allSatisfy { !$0.payload.contains("case_results") })
        }
    }

    @Test func anUploadAgainReplacesTheFirstInRowsAndState() async throws {
        try await TestStore.with { store in
            try await append([try stored(testrun: "r1", task: "k1", cases: ["s/a FAIL", "s/b PASS"])], to: store)
            try await drain(ingest(store))
            try await append([try stored(testrun: "r1", task: "k1", cases: ["s/a PASS", "s/c PASS"], at: 1)], to: store)
            try await drain(ingest(store))
            let rows = try await store.read { tx in try await tx.caseResults(testrunID: "r1") }
            #expect(rows.map { "\($0.caseName) \($0.result)" } == ["a PASS", "c PASS"])
            let states = try await store.read { tx in
                try await tx.caseStates(["a", "b"].map { (CaseStateRecord.key(package: "p", setName: "s", caseName: $0), "lab") })
            }
            let runs = Dictionary(states.map { ($0.caseName, CaseRun.decode($0.runs).map(\.result)) }, uniquingKeysWith: { a, _ in a })
            #expect(runs["a"] == ["PASS"], "the first upload's run is gone from the case's state")
            #expect(runs["b"] == [])
        }
    }

    @Test func aCaseBecomingFlakyAndStoppingIsAnnouncedOnceEach() async throws {
        try await TestStore.with { store in
            let ingest = ingest(store)
            for (index, result) in ["PASS", "PASS", "FAIL", "PASS"].enumerated() {
                try await append(
                    [try stored(testrun: "r\(index)", task: "k\(index)", cases: ["s/race \(result)"], at: Double(index))], to: store)
                try await drain(ingest)
            }
            var announced = try await store.read { tx in try await tx.events(type: EventType.testFlaky.rawValue) }
            #expect(announced.count == 1)
            let became = try JSONCoding.decoder().decode(MonitorEvent.self, from: Data(try #require(announced.first).payload.utf8))
            #expect(became.package == "p" && became.set == "s" && became.testCase == "race")
            #expect(became.details?["flaky"] == "true")
            #expect(became.details?["devicegroup"] == "lab")
            #expect(became.details?["contradictions"] == "1")
            #expect(became.details?["evidence"]?.contains("PASS on rack/a in testrun r1, FAIL on rack/a in testrun r2") == true)
            #expect(try await store.read { tx in try await tx.flakyCaseStates(deviceGroup: "lab") }.map(\.caseName) == ["race"])

            // Twenty passes later the failure is out of its window.
            for index in 4..<24 {
                try await append(
                    [try stored(testrun: "r\(index)", task: "k\(index)", cases: ["s/race PASS"], at: Double(index))], to: store)
            }
            try await drain(ingest)
            announced = try await store.read { tx in try await tx.events(type: EventType.testFlaky.rawValue) }
            #expect(announced.count == 2)
            let stopped = try JSONCoding.decoder().decode(MonitorEvent.self, from: Data(try #require(announced.last).payload.utf8))
            #expect(stopped.details?["flaky"] == "false")
            #expect(try await store.read { tx in try await tx.flakyCaseStates() }.isEmpty)
        }
    }

    @Test func aFailuresCauseIsJudgedWhenItComesAndAgainAsTheCaseRuns() async throws {
        try await TestStore.with { store in
            let ingest = ingest(store)
            let runs: [(String, String)] = [("rack/good1", "PASS"), ("rack/bad", "FAIL"), ("rack/good2", "PASS"), ("rack/bad", "FAIL")]
            for (index, (worker, result)) in runs.enumerated() {
                try await append(
                    [try stored(testrun: "r\(index)", task: "k\(index)", worker: worker, cases: ["s/sensor \(result)"], at: Double(index))],
                    to: store)
                try await drain(ingest)
                if index == 1 {
                    let first = try await store.read { tx in try await tx.caseResults(testrunID: "r1") }
                    #expect(first.first?.cause == "unknown", "one failure on one instance: too little history")
                }
            }
            for testrun in ["r1", "r3"] {
                let row = try #require(try await store.read { tx in try await tx.caseResults(testrunID: testrun) }.first)
                #expect(row.cause == "device", "\(testrun)")
                let cause = try JSONCoding.decoder().decode(LikelyCause.self, from: Data(try #require(row.causeDetail).utf8))
                #expect(cause.worker == "rack/bad")
            }
            // As the API answers it, afresh.
            let causes = try await store.read { tx in
                try await CaseAnalysis(configuration: MonitorConfiguration()).causes(
                    of: try await tx.caseResults(testrunID: "r1"), tx: tx)
            }
            #expect(causes.values.map(\.kind) == [.device])
        }
    }

    @Test func flashesAndBootsAreCasesOfTheDevice() async throws {
        try await TestStore.with { store in
            let worker = MonitorEvent.Sender(host: "rack", instance: "a", pid: 2)
            func claimed(_ task: String) -> MonitorEvent {
                var event = MonitorEvent(
                    type: .taskClaimed, emittedAt: start, sender: Self.server, testrunID: "r-\(task)", taskID: task, attempt: 1)
                event.receivedAt = start
                event.details = ["worker": "rack/a", "devicegroup": "lab", "devicename": "a", "image": "img-9", "sw_product": "os"]
                return event
            }
            func phase(_ type: EventType, _ task: String, try number: Int, _ outcome: String) -> MonitorEvent {
                var event = MonitorEvent(type: type, emittedAt: start, sender: worker, testrunID: "r-\(task)", taskID: task, attempt: 1)
                event.receivedAt = start.addingTimeInterval(Double(number) + (type == .bootFinished ? 10 : 0))
                event.tryNumber = number
                event.outcome = outcome
                event.durationMs = 100
                return event
            }
            func deviceFailure(_ task: String, _ message: String) -> MonitorEvent {
                var event = MonitorEvent(type: .failure, emittedAt: start, sender: worker, testrunID: "r-\(task)", taskID: task, attempt: 1)
                event.receivedAt = start.addingTimeInterval(9)
                event.error = MonitorEvent.Failure(category: .device, message: message)
                return event
            }
            let events = [
                // k1: the flash fails once, then works; the boot works.
                claimed("k1"), phase(.flashFinished, "k1", try: 1, "failed"), phase(.flashFinished, "k1", try: 2, "ok"),
                phase(.bootFinished, "k1", try: 1, "ok"),
                // k2: the boot fails every try.
                claimed("k2"), phase(.flashFinished, "k2", try: 1, "ok"), phase(.bootFinished, "k2", try: 1, "failed"),
                phase(.bootFinished, "k2", try: 2, "failed"), deviceFailure("k2", "boot failed after 2 tries: no login prompt"),
                // k3: the device is lost during the tests: neither phase failed.
                claimed("k3"), phase(.flashFinished, "k3", try: 1, "ok"), phase(.bootFinished, "k3", try: 1, "ok"),
                deviceFailure("k3", "the connection to the device was lost during the tests"),
            ]
            try await append(try events.map(message), to: store)
            try await drain(ingest(store))
            var found: [String] = []
            for task in ["k1", "k2", "k3"] {
                let rows = try await store.read { tx in try await tx.caseResults(testrunID: "r-\(task)") }
                found += rows.map { "\(task) \($0.package)/\($0.setName)/\($0.caseName) \($0.result)" }
                #expect(rows.allSatisfy { $0.worker == "rack/a" && $0.image == "img-9" && $0.deviceGroup == "lab" })
            }
            #expect(
                found == [
                    "k1 @device/device/flash PASS", "k1 @device/device/boot PASS", "k2 @device/device/flash PASS",
                    "k2 @device/device/boot FAIL",
                    "k3 @device/device/flash PASS", "k3 @device/device/boot PASS",
                ])
            let boot = try #require(
                try await store.read { tx in try await tx.caseResults(testrunID: "r-k2", CaseResultFilter(result: "FAIL")) }.first)
            #expect(boot.failureInfo == "boot failed after 2 tries: no login prompt")
        }
    }
}
