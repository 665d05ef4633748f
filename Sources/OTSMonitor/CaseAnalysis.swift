import Foundation
import OTSCore
import OTSStore

/// The answers about case results the API and the dashboard share: stored
/// rows as views, each failure's likely cause judged afresh from the
/// case's newest runs (or, once its run is no longer among them, as last
/// judged), and the flaky cases with their evidence.
struct CaseAnalysis: Sendable {
    let rule: CauseRule

    init(configuration: MonitorConfiguration) {
        rule = CauseRule(flaky: FlakyRule(window: configuration.flakyRuns, threshold: configuration.flakyFlipRate))
    }

    static func view(_ row: CaseResultRow, cause: LikelyCause? = nil, steps: Bool = false) -> CaseView {
        CaseView(
            testrunID: row.testrunID, taskID: row.taskID, attempt: row.attempt, package: row.package, set: row.setName,
            testCase: row.caseName, result: row.result, significant: row.significant, durationMs: row.durationMs,
            failureInfo: row.failureInfo, recordedAt: row.recordedAt, worker: row.worker,
            device: DeviceProperties(devicegroup: row.deviceGroup, devicename: row.deviceName, deviceid: row.deviceID),
            image: row.image, imageChecksum: row.imageChecksum, swProduct: row.swProduct, cause: cause,
            steps: steps ? (try? JSONCoding.decoder().decode([StepRecord].self, from: Data(row.steps.utf8))) ?? [] : nil)
    }

    /// A failure's likely cause as last judged when it came in or when its
    /// case last ran.
    static func storedCause(_ row: CaseResultRow) -> LikelyCause? {
        row.causeDetail.flatMap { try? JSONCoding.decoder().decode(LikelyCause.self, from: Data($0.utf8)) }
    }

    /// The likely causes of the failures among `rows`, by row id.
    func causes(of rows: [CaseResultRow], tx: StoreTransaction) async throws -> [Int64: LikelyCause] {
        try await judged(rows, tx: tx).causes
    }

    /// The likely causes of the failures among `rows`, by row id, and the
    /// newest runs of their cases.
    func judged(_ rows: [CaseResultRow], tx: StoreTransaction) async throws -> (
        causes: [Int64: LikelyCause], runs: [CaseResultsIngest.StateKey: [CaseRun]]
    ) {
        let failures = rows.filter { $0.result == "FAIL" }
        guard !failures.isEmpty else { return ([:], [:]) }
        let keys = Set(failures.map(CaseResultsIngest.key))
        let states = try await tx.caseStates(keys.map { ($0.caseKey, $0.deviceGroup) })
        var runsByKey: [CaseResultsIngest.StateKey: [CaseRun]] = [:]
        for state in states {
            runsByKey[CaseResultsIngest.StateKey(caseKey: state.caseKey, deviceGroup: state.deviceGroup)] = CaseRun.decode(state.runs)
        }
        var verdicts: [CaseResultsIngest.StateKey: FlakyRule.Verdict] = [:]
        var profiles = CaseResultsIngest.ProfileCache()
        var causes: [Int64: LikelyCause] = [:]
        for row in failures {
            let key = CaseResultsIngest.key(row)
            guard let runs = runsByKey[key], let failure = runs.first(where: { $0.id == row.id }) else {
                causes[row.id] = Self.storedCause(row)
                continue
            }
            let verdict = verdicts[key] ?? rule.flaky.judge(runs)
            verdicts[key] = verdict
            let devicePhase = row.package == CaseResultsIngest.devicePackage
            if let cause = rule.specific(failure, runs: runs, verdict: verdict, deviceGroup: row.deviceGroup, devicePhase: devicePhase) {
                causes[row.id] = cause
            } else {
                let profile = try await profiles.profile(of: row.worker, deviceGroup: row.deviceGroup, tx: tx)
                causes[row.id] = rule.general(failure, runs: runs, profile: profile, deviceGroup: row.deviceGroup)
            }
        }
        return (causes, runsByKey)
    }

    /// The flaky cases, of one device group or of all.
    func flaky(deviceGroup: String?, tx: StoreTransaction) async throws -> FlakyList {
        let states = try await tx.flakyCaseStates(deviceGroup: deviceGroup)
        return FlakyList(
            deviceGroup: deviceGroup, window: rule.flaky.window, threshold: rule.flaky.threshold,
            cases: states.map { state in
                let verdict = rule.flaky.judge(CaseRun.decode(state.runs))
                return FlakyCase(
                    package: state.package, set: state.setName, testCase: state.caseName, deviceGroup: state.deviceGroup,
                    runs: verdict.judged.count, flips: verdict.flips, flipRate: verdict.rate,
                    contradictions: verdict.contradictions.map {
                        FlakyCase.Contradiction(
                            image: $0.pass.image ?? $0.pass.imageChecksum, pass: $0.pass.reference, fail: $0.fail.reference)
                    }, since: state.flakySince ?? state.updatedAt, recent: verdict.judged.map(\.reference))
            })
    }
}
