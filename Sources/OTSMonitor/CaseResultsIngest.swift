import Foundation
import Logging
import OTSCore
import OTSStore

/// What the monitor makes of the case results it hears of, in the
/// transaction of the batch that brings them: a row per case of each
/// `results.stored` message, and per flash and boot of each attempt (package
/// `@device`, from `task.claimed`, the device phases and the failure that
/// ends them); then, for each case and device group touched, its newest
/// runs, whether it is flaky (a `test.flaky` event on the queue when that
/// changes) and the likely cause of each of its failures among them.
struct CaseResultsIngest: Sendable {
    let rule: CauseRule
    let logger: Logger
    static let sender = MonitorEvent.Sender.this("monitor")
    /// The newest runs kept per case and device group, for the rules.
    static let stateRuns = 50
    /// The package of flash and boot results.
    static let devicePackage = TaskWork.devicePackage
    static let deviceSet = "device"

    init(configuration: MonitorConfiguration, logger: Logger) {
        rule = CauseRule(flaky: FlakyRule(window: configuration.flakyRuns, threshold: configuration.flakyFlipRate))
        self.logger = logger
    }

    struct StateKey: Hashable {
        var caseKey: String
        var deviceGroup: String
    }

    /// Handles the events of a batch stored now (each once), in queue
    /// order; `payloads` holds the whole messages of `results.stored`.
    func ingest(_ events: [MonitorEvent], payloads: [String: String], tx: StoreTransaction, at now: Date) async throws {
        var rows: [CaseResultRow] = []
        var removed: [CaseResultRow] = []
        for event in events {
            switch event.type {
            case .taskClaimed:
                try await claimed(event, tx: tx, at: now)
            case .flashFinished, .bootFinished:
                if let row = try await devicePhase(event, tx: tx, at: now) { rows.append(row) }
            case .failure:
                if let row = try await deviceFailure(event, tx: tx, at: now) { rows.append(row) }
            case .resultsStored:
                guard let payload = payloads[event.id] else { continue }
                let message: ResultsMessage
                do {
                    message = try JSONCoding.decoder().decode(ResultsMessage.self, from: Data(payload.utf8))
                } catch {
                    logger.error("results.stored \(event.id) carries no case results that decode: \(error)")
                    continue
                }
                guard let taskID = event.taskID, let package = event.package, let testrunID = event.testrunID else { continue }
                let batch = message.batch
                removed += try await tx.removeCaseResults(taskID: taskID, package: package, keeping: batch.upload)
                rows.removeAll { $0.taskID == taskID && $0.package == package && $0.uploadID != batch.upload }
                rows += try Self.rows(of: batch, event: event, testrunID: testrunID, taskID: taskID, package: package, at: now)
                if let files = batch.files {
                    try await tx.saveCaseFiles(taskID: taskID, package: package, testrunID: testrunID, files: try JSONCoding.string(files))
                }
            default:
                continue
            }
        }
        guard !rows.isEmpty || !removed.isEmpty else { return }
        let ids = try await tx.insertCaseResults(rows)
        var fresh: [StateKey: [CaseRun]] = [:]
        var names: [StateKey: (package: String, set: String, testCase: String)] = [:]
        for (row, id) in zip(rows, ids) {
            let key = Self.key(row)
            names[key] = (row.package, row.setName, row.caseName)
            fresh[key, default: []].append(Self.run(row, id: id))
        }
        for row in removed { names[Self.key(row)] = (row.package, row.setName, row.caseName) }
        try await update(Array(names.keys), names: names, fresh: fresh, removed: Set(removed.map(\.id)), tx: tx, at: now)
    }

    /// Brings the states of cases up to date with their new runs (and
    /// without removed ones): their runs, flakiness and failures' causes.
    private func update(
        _ keys: [StateKey], names: [StateKey: (package: String, set: String, testCase: String)], fresh: [StateKey: [CaseRun]],
        removed: Set<Int64>, tx: StoreTransaction, at now: Date
    ) async throws {
        let stored = try await tx.caseStates(keys.map { ($0.caseKey, $0.deviceGroup) })
        var states = Dictionary(
            stored.map { (StateKey(caseKey: $0.caseKey, deviceGroup: $0.deviceGroup), $0) }, uniquingKeysWith: { a, _ in a })
        var profiles = ProfileCache()
        var causes: [(id: Int64, cause: String?, detail: String?)] = []
        var announcements: [MonitorEvent] = []
        var changed: [CaseStateRecord] = []
        for key in keys {
            guard let name = names[key] else { continue }
            var state =
                states[key]
                ?? CaseStateRecord(
                    caseKey: key.caseKey, deviceGroup: key.deviceGroup, package: name.package, setName: name.set, caseName: name.testCase,
                    runs: "", updatedAt: now)
            var runs = CaseRun.decode(state.runs).filter { !removed.contains($0.id) } + (fresh[key] ?? [])
            runs = Array(runs.sorted(by: CaseRun.chronological).suffix(Self.stateRuns))
            let devicePhase = name.package == Self.devicePackage
            let verdict = rule.flaky.judge(runs)
            let flaky = !devicePhase && verdict.flaky
            if flaky != state.flaky {
                announcements.append(Self.flakyEvent(state, flaky: flaky, verdict: verdict, at: now))
                state.flakySince = flaky ? now : nil
            }
            state.flaky = flaky
            state.flakyDetail = flaky ? try JSONCoding.string(CauseRule.flakyEvidence(verdict)) : nil
            for index in runs.indices where runs[index].failed {
                let failure = runs[index]
                var cause = rule.specific(failure, runs: runs, verdict: verdict, deviceGroup: key.deviceGroup, devicePhase: devicePhase)
                if cause == nil {
                    let profile = try await profiles.profile(of: failure.worker, deviceGroup: key.deviceGroup, tx: tx)
                    cause = rule.general(failure, runs: runs, profile: profile, deviceGroup: key.deviceGroup)
                }
                guard let cause else { continue }
                let stamp = cause.kind.rawValue + ":" + String(Self.fingerprint(cause.summary))
                if stamp != failure.cause {
                    runs[index].cause = stamp
                    causes.append((failure.id, cause.kind.rawValue, try JSONCoding.string(cause)))
                }
            }
            state.runs = CaseRun.encode(runs)
            state.updatedAt = now
            states[key] = state
            changed.append(state)
        }
        try await tx.saveCaseStates(changed)
        try await tx.updateCauses(causes)
        if !announcements.isEmpty {
            try await tx.append(try announcements.map { ($0.id, try JSONCoding.string($0)) }, at: now)
            for event in announcements {
                logger.info(
                    "case \(event.package ?? "")/\(event.set ?? "")/\(event.testCase ?? "") on \(event.details?["devicegroup"] ?? ""): \(event.details?["flaky"] == "true" ? "flaky" : "no longer flaky")"
                )
            }
        }
    }

    /// The workers' profiles, each read once per batch.
    struct ProfileCache {
        var profiles: [String: DeviceProfile] = [:]

        mutating func profile(of worker: String, deviceGroup: String, tx: StoreTransaction) async throws -> DeviceProfile {
            if let known = profiles[worker] { return known }
            let own = try await tx.caseOutcomes(worker: worker, limit: DeviceProfile.ownLimit)
            let peers = try await tx.caseOutcomes(deviceGroup: deviceGroup, excluding: worker, limit: DeviceProfile.peerLimit)
            let profile = DeviceProfile(worker: worker, own: own, peers: peers)
            profiles[worker] = profile
            return profile
        }
    }

    /// A short, stable number for a text (FNV-1a), to tell whether a
    /// cause changed without keeping it whole in the state.
    static func fingerprint(_ text: String) -> UInt32 {
        var hash: UInt32 = 2_166_136_261
        for byte in text.utf8 {
            hash ^= UInt32(byte)
            hash = hash &* 16_777_619
        }
        return hash
    }

    static func key(_ row: CaseResultRow) -> StateKey {
        StateKey(
            caseKey: CaseStateRecord.key(package: row.package, setName: row.setName, caseName: row.caseName), deviceGroup: row.deviceGroup)
    }

    static func run(_ row: CaseResultRow, id: Int64) -> CaseRun {
        CaseRun(
            id: id, testrunID: row.testrunID, worker: row.worker, image: row.image, imageChecksum: row.imageChecksum, result: row.result,
            at: row.recordedAt)
    }

    static func flakyEvent(_ state: CaseStateRecord, flaky: Bool, verdict: FlakyRule.Verdict, at now: Date) -> MonitorEvent {
        var event = MonitorEvent(type: .testFlaky, emittedAt: now, sender: sender)
        event.receivedAt = now
        event.package = state.package
        event.set = state.setName
        event.testCase = state.caseName
        event.details = [
            "flaky": String(flaky), "devicegroup": state.deviceGroup, "runs": String(verdict.judged.count), "flips": String(verdict.flips),
            "flip_rate": String(format: "%.2f", verdict.rate), "contradictions": String(verdict.contradictions.count),
            "evidence": String(CauseRule.flakyEvidence(verdict).joined(separator: "; ").prefix(TestrunRequest.Limits.textLength)),
        ]
        return event
    }

    /// The rows of a part of an upload.
    static func rows(of batch: ResultsBatch, event: MonitorEvent, testrunID: String, taskID: String, package: String, at now: Date)
        throws -> [CaseResultRow]
    {
        let encoder = JSONCoding.encoder()
        return try batch.cases.map { record in
            CaseResultRow(
                testrunID: testrunID, taskID: taskID, attempt: event.attempt ?? 1, uploadID: batch.upload, package: package,
                setName: record.set, caseName: record.testCase, ordinal: record.ordinal, result: record.result,
                significant: record.significant, durationMs: record.durationMs, failureInfo: record.failureInfo, worker: batch.run.worker,
                deviceGroup: batch.run.device.devicegroup, deviceName: batch.run.device.devicename, deviceID: batch.run.device.deviceid,
                image: batch.run.image, imageChecksum: batch.run.imageChecksum, swProduct: batch.run.swProduct,
                recordedAt: event.receivedAt ?? now, steps: String(decoding: try encoder.encode(record.steps), as: UTF8.self))
        }
    }

    // MARK: Flashes and boots

    /// Where an attempt runs, as `task.claimed` tells it.
    private func claimed(_ event: MonitorEvent, tx: StoreTransaction, at now: Date) async throws {
        guard let taskID = event.taskID, let attempt = event.attempt, let testrunID = event.testrunID, let details = event.details,
            let worker = details["worker"], let group = details["devicegroup"]
        else { return }
        try await tx.saveCaseAttempt(
            CaseAttemptRecord(
                taskID: taskID, attempt: attempt, testrunID: testrunID, worker: worker, deviceGroup: group,
                deviceName: details["devicename"], deviceID: details["deviceid"], image: details["image"],
                imageChecksum: details["image_checksum"], swProduct: details["sw_product"], claimedAt: event.receivedAt ?? now))
    }

    /// A flash or boot try: one that succeeded is the phase's PASS.
    private func devicePhase(_ event: MonitorEvent, tx: StoreTransaction, at now: Date) async throws -> CaseResultRow? {
        guard let taskID = event.taskID, let attempt = event.attempt, let outcome = event.outcome else { return nil }
        let phase = event.type == .flashFinished ? "flash" : "boot"
        try await tx.setCaseAttemptPhase(taskID: taskID, attempt: attempt, phase: phase, outcome: outcome)
        guard outcome == "ok", let record = try await tx.caseAttempt(taskID: taskID, attempt: attempt) else { return nil }
        return Self.deviceRow(record, phase: phase, result: "PASS", event: event, at: now)
    }

    /// A device failure that ends an attempt whose last flash or boot try
    /// failed: the phase failed every try.
    private func deviceFailure(_ event: MonitorEvent, tx: StoreTransaction, at now: Date) async throws -> CaseResultRow? {
        guard event.error?.category == .device, event.package == nil, let taskID = event.taskID, let attempt = event.attempt,
            let record = try await tx.caseAttempt(taskID: taskID, attempt: attempt)
        else { return nil }
        let phase = record.boot == "failed" ? "boot" : record.boot == nil && record.flash == "failed" ? "flash" : nil
        guard let phase else { return nil }
        return Self.deviceRow(record, phase: phase, result: "FAIL", event: event, at: now)
    }

    static func deviceRow(_ record: CaseAttemptRecord, phase: String, result: String, event: MonitorEvent, at now: Date) -> CaseResultRow {
        CaseResultRow(
            testrunID: record.testrunID, taskID: record.taskID, attempt: record.attempt,
            uploadID: "device-\(record.taskID)-\(record.attempt)-\(phase)", package: devicePackage, setName: deviceSet, caseName: phase,
            ordinal: phase == "flash" ? 0 : 1, result: result, durationMs: event.durationMs, failureInfo: event.error?.message,
            worker: record.worker, deviceGroup: record.deviceGroup, deviceName: record.deviceName, deviceID: record.deviceID,
            image: record.image, imageChecksum: record.imageChecksum, swProduct: record.swProduct, recordedAt: event.receivedAt ?? now)
    }
}
