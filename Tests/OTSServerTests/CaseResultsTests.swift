import Foundation
import OTSCore
import OTSStore
import TestDefinition
import Testing

@testable import OTSServer

/// What the server tells the monitor of each uploaded results file: every
/// case, where it ran, in a few messages; long step outputs as files.
@Suite struct CaseResultsTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    /// Results of `cases` cases in one set; case N fails when N is in
    /// `failing`, with `output` as its step's stdout.
    static func results(cases: Int, failing: Set<Int> = [], output: String = "ok") -> Data {
        let begin = Date(timeIntervalSince1970: 1_800_000_000)
        let set = SetResult(
            attributes: GeneralAttributes(name: "main"),
            cases: (0..<cases).map { index in
                let failed = failing.contains(index)
                return CaseResult(
                    attributes: GeneralAttributes(name: "case-\(index)"), result: failed ? .fail : .pass,
                    failureInfo: failed ? "expected 0, got 1" : nil,
                    steps: [
                        StepResult(
                            command: "check \(index)", result: failed ? .fail : .pass, expectedResult: 0, returnCode: failed ? 1 : 0,
                            start: begin, end: begin.addingTimeInterval(0.25), stdout: failed ? output : "ok", stderr: failed ? "boom" : nil
                        )
                    ])
            })
        let results = TestResults(suites: [SuiteResult(attributes: GeneralAttributes(name: "suite"), sets: [set])])
        return Data(ResultsWriter.xml(results, fractionalSeconds: true).utf8)
    }

    /// The `results.stored` messages on the queue, in order.
    static func storedMessages(_ store: Store) async throws -> [ResultsMessage] {
        var messages: [ResultsMessage] = []
        try await store.consume(consumer: "test-\(UUID().uuidString)", limit: 100_000) { _, batch in
            for message in batch where message.payload.contains(#""type":"results.stored""#) {
                messages.append(try JSONCoding.decoder().decode(ResultsMessage.self, from: Data(message.payload.utf8)))
            }
        }
        return messages
    }

    /// A farm with a worker `h/w1` (device n9, id 0042) holding a task of a
    /// testrun with an image, a checksum and a product.
    func withHeldTask(_ body: (Farm, Store, TaskAssignment) async throws -> Void) async throws {
        try await FarmLogicTests.withFarm { farm in
            let registration = WorkerRegistration(
                host: "h", instance: "w1", pid: 1, device: DeviceProperties(devicegroup: "g", devicename: "n9", deviceid: "0042"))
            let worker = try await farm.register(registration, at: start).workerID
            var request = TestrunRequest(device: DeviceProperties(devicegroup: "g"), packages: .init(device: ["p"]))
            request.image = "http://images/build-7.img"
            request.imageChecksum = "sha256:" + String(repeating: "ab", count: 32)
            request.swProduct = "phone-os"
            _ = try await farm.submit(request, at: start)
            let task = try #require(try await farm.claim(workerID: worker, wait: .zero) { start })
            try await body(farm, farm.store, task)
        }
    }

    @Test func theClaimTellsWhereTheAttemptRuns() async throws {
        try await withHeldTask { _, store, task in
            var claimed: MonitorEvent?
            try await store.consume(consumer: "test", limit: 1000) { _, batch in
                for message in batch {
                    let event = try JSONCoding.decoder().decode(MonitorEvent.self, from: Data(message.payload.utf8))
                    if event.type == .taskClaimed { claimed = event }
                }
            }
            let details = try #require(claimed?.details)
            #expect(claimed?.taskID == task.taskID)
            #expect(details["worker"] == "h/w1")
            #expect(details["devicegroup"] == "g" && details["devicename"] == "n9" && details["deviceid"] == "0042")
            #expect(details["image"] == "http://images/build-7.img")
            #expect(details["image_checksum"] == "sha256:" + String(repeating: "ab", count: 32))
            #expect(details["sw_product"] == "phone-os")
        }
    }

    @Test func everyCaseGoesToTheMonitorWithItsDeviceImageAndSteps() async throws {
        try await withHeldTask { farm, store, task in
            let long = (1...400).map { "line \($0) of a long output" }.joined(separator: "\n")
            #expect(
                try await farm.saveResults(
                    taskID: task.taskID, workerID: "h/w1", package: "p", xml: Self.results(cases: 3, failing: [1], output: long), at: start)
            )
            let messages = try await Self.storedMessages(store)
            #expect(messages.count == 1)
            let message = try #require(messages.first)
            #expect(message.event.sender.instance == "server")
            #expect(message.event.package == "p")
            #expect(message.event.taskID == task.taskID)
            #expect(message.event.testrunID == task.testrunID)
            #expect(message.event.details?["cases"] == "3" && message.event.details?["failed"] == "1")
            let batch = message.batch
            #expect(batch.part == 1 && batch.parts == 1)
            #expect(batch.run.worker == "h/w1")
            #expect(batch.run.device == DeviceProperties(devicegroup: "g", devicename: "n9", deviceid: "0042"))
            #expect(batch.run.image == "http://images/build-7.img")
            #expect(batch.run.swProduct == "phone-os")
            #expect(batch.cases.map(\.testCase) == ["case-0", "case-1", "case-2"])
            #expect(batch.cases.map(\.ordinal) == [0, 1, 2])
            let failed = batch.cases[1]
            #expect(failed.result == "FAIL" && failed.failureInfo == "expected 0, got 1")
            #expect(failed.durationMs == 250)
            let step = try #require(failed.failingStep)
            #expect(step.command == "check 1" && step.returnCode == 1 && step.expectedResult == 0)
            #expect(step.stderr == "boom" && step.stderrFile == nil, "short output is kept whole")
            // Long output: an excerpt of its start and end, the whole as a file.
            let excerpt = try #require(step.stdout)
            #expect(excerpt.count < 2100)
            #expect(excerpt.hasPrefix("line 1 of a long output"))
            #expect(excerpt.hasSuffix("line 400 of a long output"))
            #expect(excerpt.contains("characters left out"))
            #expect(step.stdoutFile == "steps/1-1.stdout")
            #expect(step.stdoutLength == long.count)
            let whole = try await farm.fileContent(testrunID: task.testrunID, taskID: task.taskID, package: "p", name: "steps/1-1.stdout")
            #expect(String(decoding: whole, as: UTF8.self) == long)
            #expect(batch.files?.map(\.name) == ["steps/1-1.stdout"], "the package's files, with the long outputs")
        }
    }

    @Test func anUploadAgainLeavesNoStaleOutputFiles() async throws {
        try await withHeldTask { farm, store, task in
            let long = String(repeating: "x", count: 3000)
            _ = try await farm.saveResults(
                taskID: task.taskID, workerID: "h/w1", package: "p", xml: Self.results(cases: 2, failing: [0], output: long), at: start)
            _ = try await farm.saveResults(taskID: task.taskID, workerID: "h/w1", package: "p", xml: Self.results(cases: 2), at: start)
            let files = try await farm.files(testrunID: task.testrunID).files.map(\.name)
            #expect(files.isEmpty, "\(files)")
            let uploads = try await Self.storedMessages(store).map(\.batch.upload)
            #expect(uploads.count == 2 && Set(uploads).count == 2, "each upload its own id, so the monitor replaces the first")
        }
    }

    @Test func tenThousandCasesAreAFewMessagesNotOneACase() async throws {
        try await withHeldTask { farm, store, task in
            _ = try await farm.saveResults(
                taskID: task.taskID, workerID: "h/w1", package: "p", xml: Self.results(cases: 10_000, failing: [7, 9_999]), at: start)
            let messages = try await Self.storedMessages(store)
            #expect((2...20).contains(messages.count), "\(messages.count) messages")
            #expect(messages.map(\.batch.part) == Array(1...messages.count))
            #expect(messages.allSatisfy { $0.batch.parts == messages.count && $0.batch.upload == messages[0].batch.upload })
            #expect(messages.allSatisfy { $0.batch.cases.count <= ResultsBatch.partCases })
            #expect(messages.dropFirst().allSatisfy { $0.batch.files == nil }, "the files come with the first part")
            let cases = messages.flatMap(\.batch.cases)
            #expect(cases.count == 10_000)
            #expect(cases.map(\.ordinal) == Array(0..<10_000))
            #expect(cases.filter { $0.result == "FAIL" }.map(\.testCase) == ["case-7", "case-9999"])
        }
    }

    @Test func workersMayUploadTheRunnersWholeOutputsButNoOtherPath() async throws {
        try await withHeldTask { farm, _, task in
            let saved = try await farm.saveFile(taskID: task.taskID, workerID: "h/w1", package: "p", name: "output/a.stdout", content: [1])
            #expect(saved)
            for name in ["steps/0-1.stdout", "output/../x", "output/", "output/a/b", "a/b", "..", "output/.."] {
                await #expect(throws: DomainError.self, "\(name)") {
                    try await farm.saveFile(taskID: task.taskID, workerID: "h/w1", package: "p", name: name, content: [1])
                }
            }
        }
    }
}
