import Foundation
import Hummingbird
import OTSCore
import OTSHTTP

extension Dashboard {
    /// `/history?package=&set=&case=&devicegroup=` (a case's results as a
    /// strip and a table) and `/flaky?devicegroup=` (the flaky cases).
    func registerCasePages(on router: RouterGroup<OTSRequestContext>) {
        router.get("history") { request, _ in
            let query = request.uri.queryParameters
            func value(_ name: String) -> String? { query.get(name).flatMap { $0.isEmpty ? nil : $0 } }
            guard let package = value("package") else {
                return page(
                    "problem", Problem(title: "Bad request", message: "package: required (and set and case, to narrow it)"),
                    status: .badRequest)
            }
            if value("case") != nil && value("set") == nil {
                return page("problem", Problem(title: "Bad request", message: "set: required with case"), status: .badRequest)
            }
            return page(
                "history",
                try await pages.history(package: package, set: value("set"), testCase: value("case"), deviceGroup: value("devicegroup")))
        }
        router.get("flaky") { request, _ in
            let group = request.uri.queryParameters.get("devicegroup").flatMap { $0.isEmpty ? nil : $0 }
            return page("flaky", try await pages.flaky(deviceGroup: group))
        }
    }
}
