import Foundation
import OTSCore
import OTSStore

/// The monitor's answers about case results, as its API gives them (and
/// as `ots bench results` times them): each in one read transaction, from
/// what the monitor stored.
public struct CaseQueries: Sendable {
    let store: Store
    let analysis: CaseAnalysis

    public init(store: Store, configuration: MonitorConfiguration) {
        self.store = store
        self.analysis = CaseAnalysis(configuration: configuration)
    }

    /// A testrun's cases, each failure with its likely cause; nil when the
    /// monitor has heard nothing of the testrun.
    public func cases(testrun id: String, filter: CaseResultFilter = CaseResultFilter()) async throws -> CaseList? {
        try await store.read { tx in
            guard try await Self.known(id, tx: tx) else { return nil }
            let rows = try await tx.caseResults(testrunID: id, filter)
            let causes = try await analysis.causes(of: rows, tx: tx)
            let files = try await tx.caseFiles(testrunID: id).map { entry in
                CaseList.PackageFiles(
                    taskID: entry.taskID, package: entry.package,
                    files: (try? JSONCoding.decoder().decode([FileReference].self, from: Data(entry.files.utf8))) ?? [])
            }
            return CaseList(
                testrunID: id, cases: rows.map { CaseAnalysis.view($0, cause: causes[$0.id], steps: filter.steps) }, files: files)
        }
    }

    /// One case of a testrun with its steps; nil when there is none.
    public func testCase(testrun id: String, package: String, set: String, testCase: String) async throws -> CaseView? {
        try await store.read { tx in
            guard let row = try await tx.caseResult(testrunID: id, package: package, setName: set, caseName: testCase) else { return nil }
            return CaseAnalysis.view(row, cause: try await analysis.causes(of: [row], tx: tx)[row.id], steps: true)
        }
    }

    /// A testrun's failures with their likely causes; nil when the monitor
    /// has heard nothing of the testrun.
    public func causes(testrun id: String) async throws -> CauseList? {
        try await store.read { tx in
            guard try await Self.known(id, tx: tx) else { return nil }
            let rows = try await tx.caseResults(testrunID: id, CaseResultFilter(result: "FAIL"))
            let causes = try await analysis.causes(of: rows, tx: tx)
            return CauseList(testrunID: id, failures: rows.map { CaseAnalysis.view($0, cause: causes[$0.id]) })
        }
    }

    /// Results of a case (or of a package's or set's cases), newest first.
    public func history(package: String, set: String?, testCase: String?, deviceGroup: String?, limit: Int) async throws -> CaseHistory {
        try await store.read { tx in
            let rows = try await tx.caseHistory(package: package, setName: set, caseName: testCase, deviceGroup: deviceGroup, limit: limit)
            return CaseHistory(
                package: package, set: set, testCase: testCase, deviceGroup: deviceGroup,
                runs: rows.map { CaseAnalysis.view($0, cause: CaseAnalysis.storedCause($0)) })
        }
    }

    /// The flaky cases, of one device group or of all.
    public func flaky(deviceGroup: String?) async throws -> FlakyList {
        try await store.read { tx in try await analysis.flaky(deviceGroup: deviceGroup, tx: tx) }
    }

    static func known(_ id: String, tx: StoreTransaction) async throws -> Bool {
        try await !tx.events(testrunID: id, limit: 1).isEmpty
    }
}
