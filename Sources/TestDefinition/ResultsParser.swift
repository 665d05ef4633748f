import Foundation

/// Reads testdefinition-results XML (what `ots run` and testrunner-lite
/// write) back into `TestResults`, so the server can merge the results of
/// a testrun's tasks and judge them.
public struct ResultsParser: Sendable {
    public init() {}

    public func parse(_ data: Data, file: String) throws(DefinitionErrors) -> TestResults {
        let root: XMLElement
        do {
            root = try XMLTreeReader.read(data, file: file)
        } catch {
            throw DefinitionErrors([error])
        }
        var reader = Reader()
        let results = reader.results(root)
        if !reader.schema.errors.isEmpty {
            throw DefinitionErrors(reader.schema.errors)
        }
        return results
    }
}

private struct Reader {
    var schema = SchemaReader()
    /// Made once per document: a results file holds thousands of times.
    var localTime = LocalTimestamp()
    let iso = ISO8601DateFormatter()

    mutating func results(_ root: XMLElement) -> TestResults {
        guard root.name == "testresults" else {
            schema.error(root, "the root element is <\(root.name)>, expected <testresults>")
            return TestResults()
        }
        var results = TestResults(
            version: schema.required(root, "version"),
            environment: schema.required(root, "environment"),
            hwproduct: schema.required(root, "hwproduct"),
            hwbuild: schema.required(root, "hwbuild")
        )
        for child in root.children {
            switch child.name {
            case "suite": results.suites.append(suite(child))
            case "vcsurl": results.vcsURL = child.text
            case "packageurl": results.packageURL = child.text
            case "hwiddetect": results.hwiddetect = child.text
            case "description": results.description = child.text
            default: schema.error(child, "unknown element <\(child.name)> in <testresults>")
            }
        }
        return results
    }

    mutating func general(_ element: XMLElement) -> GeneralAttributes {
        schema.generalAttributes(element)
    }

    mutating func suite(_ element: XMLElement) -> SuiteResult {
        var suite = SuiteResult(attributes: general(element))
        for child in element.children {
            switch child.name {
            case "set": suite.sets.append(set(child))
            case "description": suite.description = child.text
            default: schema.error(child, "unknown element <\(child.name)> in <suite>")
            }
        }
        return suite
    }

    mutating func set(_ element: XMLElement) -> SetResult {
        var set = SetResult(attributes: general(element), environment: element.attributes["environment"])
        for child in element.children {
            switch child.name {
            case "description": set.description = child.text
            case "pre_steps":
                set.preStepsTimeout = schema.positiveInteger(child, "timeout")
                set.preSteps += child.children.filter { $0.name == "step" }.map { step($0) }
            case "post_steps":
                set.postStepsTimeout = schema.positiveInteger(child, "timeout")
                set.postSteps += child.children.filter { $0.name == "step" }.map { step($0) }
            case "case": set.cases.append(testCase(child))
            case "get":
                set.get += child.children.filter { $0.name == "file" }.map {
                    FetchFile(path: $0.text.trimmingXMLWhitespace(), deleteAfter: schema.boolean($0, "delete_after") ?? false)
                }
            default: schema.error(child, "unknown element <\(child.name)> in <set>")
            }
        }
        return set
    }

    mutating func outcome(_ element: XMLElement) -> TestOutcome {
        let raw = schema.required(element, "result")
        guard let outcome = TestOutcome(rawValue: raw) else {
            if element.attributes["result"] != nil {
                schema.error(element, "attribute 'result' of <\(element.name)> must be PASS, FAIL or N/A, not '\(raw.inMessage())'")
            }
            return .notApplicable
        }
        return outcome
    }

    mutating func testCase(_ element: XMLElement) -> CaseResult {
        var result = CaseResult(
            attributes: general(element),
            result: outcome(element),
            subfeature: element.attributes["subfeature"],
            comment: element.attributes["comment"],
            failureInfo: element.attributes["failure_info"],
            bugzillaID: schema.positiveInteger(element, "bugzilla_id"),
            tcID: element.attributes["TC_ID"],
            state: element.attributes["state"]
        )
        for child in element.children {
            switch child.name {
            case "description": result.description = child.text
            case "step": result.steps.append(step(child))
            case "event":
                result.events.append(
                    EventResult(
                        kind: schema.enumeration(child, "type", TestEvent.Kind.self) ?? .send,
                        resource: schema.required(child, "resource"),
                        timeout: schema.positiveInteger(child, "timeout") ?? 90,
                        params: child.children.filter { $0.name == "param" }.map {
                            EventParam(
                                type: schema.enumeration($0, "type", EventParam.ValueType.self) ?? .string,
                                name: schema.required($0, "name"),
                                value: $0.text
                            )
                        },
                        result: outcome(child)
                    )
                )
            case "measurement":
                result.measurements.append(
                    TestMeasurement(
                        name: schema.required(child, "name"),
                        value: number(child, "value") ?? 0,
                        unit: schema.required(child, "unit"),
                        target: number(child, "target"),
                        failure: number(child, "failure")
                    )
                )
            case "series":
                var series = MeasurementSeries(
                    name: schema.required(child, "name"),
                    unit: schema.required(child, "unit"),
                    group: child.attributes["group"],
                    target: number(child, "target"),
                    failure: number(child, "failure"),
                    interval: schema.positiveInteger(child, "interval"),
                    intervalUnit: child.attributes["interval_unit"]
                )
                series.points = child.children.filter { $0.name == "measurement" }.map {
                    MeasurementSeries.Point(
                        value: number($0, "value") ?? 0, timestamp: $0.attributes["timestamp"].flatMap(iso.date(from:)))
                }
                result.series.append(series)
            case "rich_core_uuid", "crash_id":
                break
            default: schema.error(child, "unknown element <\(child.name)> in <case>")
            }
        }
        return result
    }

    mutating func step(_ element: XMLElement) -> StepResult {
        func text(_ name: String) -> String? { element.children.first { $0.name == name }?.text }
        let returnCode = text("return_code").flatMap { Int($0.trimmingXMLWhitespace()) }
        var result = StepResult(
            command: element.attributes["command"] ?? "",
            result: outcome(element),
            manual: schema.boolean(element, "manual"),
            control: element.attributes["control"],
            failureInfo: element.attributes["failure_info"],
            expectedResult: text("expected_result").flatMap { Int($0.trimmingXMLWhitespace()) } ?? 0,
            returnCode: returnCode,
            start: text("start").flatMap { localTime.date(from: $0) } ?? Date(timeIntervalSince1970: 0),
            end: text("end").flatMap { localTime.date(from: $0) } ?? Date(timeIntervalSince1970: 0),
            stdout: text("stdout"),
            stderr: text("stderr")
        )
        if let reboot = element.children.first(where: { $0.name == "post_reboot_steps" }) {
            result.postRebootSteps = reboot.children.filter { $0.name == "step" }.map { step($0) }
        }
        return result
    }

    mutating func number(_ element: XMLElement, _ attribute: String) -> Double? {
        guard let raw = element.attributes[attribute] else { return nil }
        guard let value = Double(raw.trimmingXMLWhitespace()) else {
            schema.error(element, "attribute '\(attribute)' of <\(element.name)> must be a number, not '\(raw.inMessage())'")
            return nil
        }
        return value
    }

}

extension TestResults {
    /// The results of several tasks of one testrun as one document: suites
    /// of the same name are joined, their sets in the order given.
    public static func merged(_ parts: [TestResults]) -> TestResults {
        guard var merged = parts.first else { return TestResults() }
        merged.suites = []
        var index: [String: Int] = [:]
        for part in parts {
            for suite in part.suites {
                if let position = index[suite.attributes.name] {
                    merged.suites[position].sets += suite.sets
                } else {
                    index[suite.attributes.name] = merged.suites.count
                    merged.suites.append(suite)
                }
            }
        }
        return merged
    }
}
