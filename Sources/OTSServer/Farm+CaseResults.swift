import Foundation
import OTSCore
import OTSStore
import TestDefinition

extension Farm {
    /// The cases of one package's results as the monitor gets them, and the
    /// whole text of each step stream too long for its excerpt (a file of
    /// the task's package, named `steps/CASE-STEP.stdout`).
    struct CaseExtract {
        var cases: [CaseRecord] = []
        var outputs: [(name: String, text: String)] = []
    }

    /// Names of the files the server makes of long step outputs: workers
    /// cannot upload a name with a `/` but `output/NAME`, so these never
    /// clash with a fetched file.
    static let stepOutputPrefix = "steps/"

    static func extractCases(_ results: TestResults) -> CaseExtract {
        var extract = CaseExtract()
        var ordinal = 0
        for suite in results.suites {
            for set in suite.sets {
                for result in set.cases {
                    var steps: [StepRecord] = []
                    for (index, step) in result.steps.enumerated() {
                        var record = StepRecord(
                            command: StepRecord.Excerpt.of(step.command).text, result: step.result.rawValue,
                            expectedResult: step.expectedResult, returnCode: step.returnCode, failureInfo: step.failureInfo,
                            durationMs: Self.milliseconds(from: step.start, to: step.end))
                        let base = "\(stepOutputPrefix)\(ordinal)-\(index + 1)"
                        if let stdout = step.stdout, !stdout.isEmpty {
                            let excerpt = StepRecord.Excerpt.of(stdout)
                            record.stdout = excerpt.text
                            if excerpt.cut {
                                record.stdoutFile = base + ".stdout"
                                record.stdoutLength = stdout.count
                                extract.outputs.append((base + ".stdout", stdout))
                            }
                        }
                        if let stderr = step.stderr, !stderr.isEmpty {
                            let excerpt = StepRecord.Excerpt.of(stderr)
                            record.stderr = excerpt.text
                            if excerpt.cut {
                                record.stderrFile = base + ".stderr"
                                record.stderrLength = stderr.count
                                extract.outputs.append((base + ".stderr", stderr))
                            }
                        }
                        steps.append(record)
                    }
                    let start = result.steps.map(\.start).min()
                    let end = result.steps.map(\.end).max()
                    extract.cases.append(
                        CaseRecord(
                            set: set.attributes.name, testCase: result.name, ordinal: ordinal, result: result.result.rawValue,
                            significant: !result.isInsignificant,
                            durationMs: start.flatMap { start in end.flatMap { Self.milliseconds(from: start, to: $0) } },
                            failureInfo: result.failureInfo.map { StepRecord.Excerpt.of($0).text }, steps: steps))
                    ordinal += 1
                }
            }
        }
        return extract
    }

    static func milliseconds(from start: Date, to end: Date) -> Int64? {
        let seconds = end.timeIntervalSince(start)
        guard seconds.isFinite, seconds >= 0 else { return nil }
        return Int64(saturating: seconds * 1000)
    }

    /// The cases in parts of at most `ResultsBatch.partCases` cases and
    /// about `ResultsBatch.partBytes` of text each, so that no message on
    /// the queue is huge and a large upload is a few messages, not one per
    /// case.
    static func parts(_ cases: [CaseRecord]) -> [[CaseRecord]] {
        var parts: [[CaseRecord]] = []
        var current: [CaseRecord] = []
        var bytes = 0
        for record in cases {
            let size =
                200 + record.set.utf8.count + record.testCase.utf8.count + (record.failureInfo?.utf8.count ?? 0)
                + record.steps.reduce(0) { $0 + 150 + $1.command.utf8.count + ($1.stdout?.utf8.count ?? 0) + ($1.stderr?.utf8.count ?? 0) }
            if !current.isEmpty && (current.count >= ResultsBatch.partCases || bytes + size > ResultsBatch.partBytes) {
                parts.append(current)
                current = []
                bytes = 0
            }
            current.append(record)
            bytes += size
        }
        if !current.isEmpty || parts.isEmpty { parts.append(current) }
        return parts
    }

    /// Keeps the long step outputs of a package's results as files of the
    /// task, and tells the monitor of every case: `results.stored`
    /// messages appended in the upload's transaction, carrying the cases,
    /// where they ran (the worker instance and its device, as it
    /// registered; the image and product, as the request gave them) and the
    /// package's fetched files.
    func recordCases(_ results: TestResults, taskID: String, workerID: String, package: String, tx: StoreTransaction, at now: Date)
        async throws
    {
        guard let task = try await tx.task(id: taskID), let testrun = try await tx.testrun(id: task.testrunID) else { return }
        let request = try? JSONCoding.decoder().decode(TestrunRequest.self, from: Data(testrun.request.utf8))
        let worker = try await tx.workers(id: workerID).first
        let run = RunContext(
            worker: workerID,
            device: DeviceProperties(
                devicegroup: worker?.deviceGroup ?? testrun.deviceGroup, devicename: worker?.deviceName, deviceid: worker?.deviceID),
            image: request?.image, imageChecksum: request?.imageChecksum, swProduct: request?.swProduct)
        let extract = Self.extractCases(results)
        try await tx.removeFiles(taskID: taskID, package: package, namePrefix: Self.stepOutputPrefix)
        for output in extract.outputs {
            let content = Array(output.text.utf8)
            try await tx.saveFile(
                FileRecord(taskID: taskID, package: package, name: output.name, size: Int64(content.count)), content: content, at: now)
        }
        let files = try await tx.files(testrunID: task.testrunID).filter { $0.taskID == taskID && $0.package == package }
        let upload = UUID().uuidString.lowercased()
        let parts = Self.parts(extract.cases)
        let encoder = JSONCoding.encoder()
        var messages: [(id: String, payload: String)] = []
        for (index, cases) in parts.enumerated() {
            var stored = event(.resultsStored, testrunID: task.testrunID, taskID: taskID, attempt: task.attempts)
            stored.package = package
            stored.receivedAt = now
            stored.details = [
                "worker": workerID, "upload": upload, "part": String(index + 1), "parts": String(parts.count),
                "cases": String(cases.count), "passed": String(cases.count(where: { $0.result == "PASS" })),
                "failed": String(cases.count(where: { $0.result == "FAIL" })),
                "not_applicable": String(cases.count(where: { $0.result == "N/A" })),
            ]
            // A health check's results say so, as its other events do.
            if let checked = Self.healthCheckOf(routingKey: task.routingKey) { stored.details?[MonitorEvent.healthCheckDetail] = checked }
            let batch = ResultsBatch(
                upload: upload, part: index + 1, parts: parts.count, run: run,
                files: index == 0 ? files.map { FileReference(name: $0.name, size: $0.size) } : nil, cases: cases)
            messages.append((stored.id, String(decoding: try encoder.encode(ResultsMessage(event: stored, batch: batch)), as: UTF8.self)))
        }
        try await tx.append(messages, at: now)
    }

    /// `task.claimed` tells where the attempt runs: the instance's device
    /// and the image and product it is flashed with, so that the monitor
    /// can judge flashes and boots without the server's tables.
    static func withRunDetails(_ event: MonitorEvent, request: TestrunRequest, worker: WorkerRecord) -> MonitorEvent {
        guard event.type == .taskClaimed else { return event }
        var event = event
        var details = event.details ?? [:]
        details["devicegroup"] = worker.deviceGroup
        details["devicename"] = worker.deviceName
        details["deviceid"] = worker.deviceID
        details["image"] = request.image
        details["image_checksum"] = request.imageChecksum
        details["sw_product"] = request.swProduct
        event.details = details
        return event
    }
}
