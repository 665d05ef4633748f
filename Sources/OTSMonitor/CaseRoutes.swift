import Foundation
import Hummingbird
import OTSCore
import OTSHTTP
import OTSStore

/// `/testruns/{id}/cases`, `/testruns/{id}/case` and
/// `/testruns/{id}/causes`: a testrun's case results, one case with its
/// steps, and its failures' likely causes.
struct TestrunCaseRoutes: ResourceRoutes {
    let monitor: MonitorRoutes

    func add(to routes: RouteCollection<OTSRequestContext>) {
        let queries = CaseQueries(store: monitor.store, configuration: monitor.configuration)
        routes.get(":id/cases") { request, context in
            let id = try context.parameters.require("id")
            let query = request.uri.queryParameters
            var filter = CaseResultFilter(package: query.get("package"), name: query.get("name"))
            if let result = query.get("result") {
                guard ["PASS", "FAIL", "N/A"].contains(result) else {
                    throw APIError(.badRequest, "result: must be PASS, FAIL or N/A, not '\(result.prefix(20))'", field: "result")
                }
                filter.result = result
            }
            filter.limit = try Self.limit(query.get("limit"), default: 10_000, most: 10_000)
            if let steps = query.get("steps") {
                guard let value = Bool(steps) else { throw APIError(.badRequest, "steps: must be true or false", field: "steps") }
                filter.steps = value
            }
            guard let list = try await queries.cases(testrun: id, filter: filter) else { throw Self.unknown(id) }
            return try JSONResponse.make(list)
        }
        routes.get(":id/case") { request, context in
            let id = try context.parameters.require("id")
            let query = request.uri.queryParameters
            var names: [String] = []
            for field in ["package", "set", "case"] {
                guard let value = query.get(field), !value.isEmpty else {
                    throw APIError(.badRequest, "\(field): required (a case is named by package, set and case)", field: field)
                }
                names.append(value)
            }
            guard let view = try await queries.testCase(testrun: id, package: names[0], set: names[1], testCase: names[2]) else {
                throw APIError(.notFound, "the monitor has no result of case \(names.joined(separator: "/")) in testrun \(id)")
            }
            return try JSONResponse.make(view)
        }
        routes.get(":id/causes") { _, context in
            let id = try context.parameters.require("id")
            guard let list = try await queries.causes(testrun: id) else { throw Self.unknown(id) }
            return try JSONResponse.make(list)
        }
    }

    static func unknown(_ id: String) -> APIError {
        APIError(.notFound, "the monitor has no events of testrun \(id)")
    }

    static func limit(_ text: String?, default value: Int, most: Int) throws -> Int {
        guard let text else { return value }
        guard let limit = Int(text), (1...most).contains(limit) else {
            throw APIError(.badRequest, "limit: must be an integer from 1 to \(most)", field: "limit")
        }
        return limit
    }
}

/// `/history` and `/flaky`: a case's results across testruns, and the
/// flaky cases.
struct CaseHistoryRoutes: ResourceRoutes {
    let monitor: MonitorRoutes

    func add(to routes: RouteCollection<OTSRequestContext>) {
        let queries = CaseQueries(store: monitor.store, configuration: monitor.configuration)
        routes.get("history") { request, _ in
            let query = request.uri.queryParameters
            func value(_ name: String) -> String? { query.get(name).flatMap { $0.isEmpty ? nil : $0 } }
            guard let package = value("package") else {
                throw APIError(.badRequest, "package: required (and set and case, to narrow it)", field: "package")
            }
            if value("case") != nil && value("set") == nil {
                throw APIError(.badRequest, "set: required with case", field: "set")
            }
            let limit = try TestrunCaseRoutes.limit(query.get("limit"), default: 50, most: 1000)
            return try JSONResponse.make(
                try await queries.history(
                    package: package, set: value("set"), testCase: value("case"), deviceGroup: value("devicegroup"), limit: limit))
        }
        routes.get("flaky") { request, _ in
            let group = request.uri.queryParameters.get("devicegroup").flatMap { $0.isEmpty ? nil : $0 }
            return try JSONResponse.make(try await queries.flaky(deviceGroup: group))
        }
    }
}
