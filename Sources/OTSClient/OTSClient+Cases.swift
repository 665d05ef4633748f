import Foundation
import NIOHTTP1
import OTSCore

extension OTSClient {
    /// A testrun's case results, filtered by result, package and part of
    /// the case's name (a monitor's API).
    public func cases(
        testrun: String, result: String? = nil, package: String? = nil, name: String? = nil, limit: Int? = nil, steps: Bool = false
    ) async throws(ClientError) -> CaseList {
        var query: [(String, String)] = steps ? [("steps", "true")] : []
        if let result { query.append(("result", result)) }
        if let package { query.append(("package", package)) }
        if let name { query.append(("name", name)) }
        if let limit { query.append(("limit", String(limit))) }
        return try await call(.GET, "testruns/\(Self.segment(testrun))/cases", query: query)
    }

    /// One case of a testrun, with its steps and their outputs.
    public func testCase(testrun: String, package: String, set: String, testCase: String) async throws(ClientError) -> CaseView {
        try await call(.GET, "testruns/\(Self.segment(testrun))/case", query: [("package", package), ("set", set), ("case", testCase)])
    }

    /// A testrun's failures with their likely causes.
    public func causes(testrun: String) async throws(ClientError) -> CauseList {
        try await call(.GET, "testruns/\(Self.segment(testrun))/causes")
    }

    /// Results of a case (or of a package's or set's cases) across
    /// testruns, newest first.
    public func history(package: String, set: String? = nil, testCase: String? = nil, deviceGroup: String? = nil, limit: Int? = nil)
        async throws(ClientError) -> CaseHistory
    {
        var query = [("package", package)]
        if let set { query.append(("set", set)) }
        if let testCase { query.append(("case", testCase)) }
        if let deviceGroup { query.append(("devicegroup", deviceGroup)) }
        if let limit { query.append(("limit", String(limit))) }
        return try await call(.GET, "history", query: query)
    }

    /// The flaky cases, of a device group or of all.
    public func flaky(deviceGroup: String? = nil) async throws(ClientError) -> FlakyList {
        try await call(.GET, "flaky", query: deviceGroup.map { [("devicegroup", $0)] } ?? [])
    }
}
