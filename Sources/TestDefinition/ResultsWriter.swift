import Foundation

/// Writes results in the testdefinition-results format that
/// testrunner-lite writes and OTS's tools read.
public enum ResultsWriter {
    /// The results as an XML document.
    ///
    /// `fractionalSeconds` writes step start and end with milliseconds
    /// (`yyyy-MM-dd HH:mm:ss.SSS`; the schema leaves their form open): what
    /// a worker uploads, so the farm knows how long each case took. Files
    /// for people and other tools keep testrunner-lite's whole seconds.
    public static func xml(_ results: TestResults, fractionalSeconds: Bool = false) -> String {
        var writer = XMLWriter()
        writer.start(
            "testresults",
            [
                "version": results.version,
                "environment": results.environment,
                "hwproduct": results.hwproduct,
                "hwbuild": results.hwbuild,
            ]
        )
        // As testrunner-lite: the URLs of -u and -U first.
        if let vcsURL = results.vcsURL {
            writer.text("vcsurl", vcsURL)
        }
        if let packageURL = results.packageURL {
            writer.text("packageurl", packageURL)
        }
        if let hwid = results.hwiddetect {
            writer.text("hwiddetect", hwid)
        }
        if let description = results.description {
            writer.text("description", description)
        }
        for suite in results.suites {
            writer.start("suite", general(suite.attributes))
            if let description = suite.description {
                writer.text("description", description)
            }
            for set in suite.sets {
                write(set, into: &writer, fractionalSeconds)
            }
            writer.end()
        }
        writer.end()
        return writer.output
    }

    /// Writes the results to a file: first to a temporary file beside it,
    /// then renamed, so a failed write never leaves a partial file.
    public static func write(_ text: String, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        try Data(text.utf8).write(to: url, options: .atomic)
    }

    /// `start` and `end` as testrunner-lite writes them: local time,
    /// `yyyy-MM-dd HH:mm:ss`.
    public static func timestamp(_ date: Date, fractional: Bool = false) -> String {
        let whole = date.timeIntervalSince1970.rounded(.down)
        let components = Calendar.current.dateComponents(
            [.year, .month, .day, .hour, .minute, .second], from: Date(timeIntervalSince1970: whole))
        func two(_ value: Int?) -> String {
            let v = value ?? 0
            return v < 10 ? "0\(v)" : "\(v)"
        }
        var text =
            "\(components.year ?? 0)-\(two(components.month))-\(two(components.day)) "
            + "\(two(components.hour)):\(two(components.minute)):\(two(components.second))"
        if fractional {
            let milliseconds = min(999, Int(((date.timeIntervalSince1970 - whole) * 1000).rounded(.down)))
            text += "." + String(format: "%03d", milliseconds)
        }
        return text
    }

    private static func general(_ attributes: GeneralAttributes) -> [(String, String?)] {
        [
            ("name", attributes.name),
            ("description", attributes.description),
            ("requirement", attributes.requirement),
            ("timeout", attributes.timeout.map(String.init)),
            ("type", attributes.type),
            ("level", attributes.level),
            ("manual", attributes.manual.map { $0 ? "true" : "false" }),
            ("insignificant", attributes.insignificant.map { $0 ? "true" : "false" }),
            ("domain", attributes.domain),
            ("feature", attributes.feature),
            ("component", attributes.component),
            ("hwid", attributes.hwid),
        ]
    }

    private static func write(_ set: SetResult, into writer: inout XMLWriter, _ fractional: Bool) {
        var attributes = general(set.attributes)
        attributes.append(("environment", set.environment))
        writer.start("set", attributes)
        if let description = set.description {
            writer.text("description", description)
        }
        if !set.preSteps.isEmpty {
            writer.start("pre_steps", ["timeout": set.preStepsTimeout.map(String.init)])
            set.preSteps.forEach { write($0, into: &writer, fractional) }
            writer.end()
        }
        for testCase in set.cases {
            write(testCase, into: &writer, fractional)
        }
        if !set.postSteps.isEmpty {
            writer.start("post_steps", ["timeout": set.postStepsTimeout.map(String.init)])
            set.postSteps.forEach { write($0, into: &writer, fractional) }
            writer.end()
        }
        if !set.get.isEmpty {
            writer.start("get")
            for file in set.get {
                writer.text("file", file.path, ["delete_after": file.deleteAfter ? "true" : "false"])
            }
            writer.end()
        }
        writer.end()
    }

    private static func write(_ testCase: CaseResult, into writer: inout XMLWriter, _ fractional: Bool) {
        var attributes = general(testCase.attributes)
        attributes += [
            ("result", testCase.result.rawValue),
            ("subfeature", testCase.subfeature),
            ("comment", testCase.comment),
            ("failure_info", testCase.failureInfo),
            ("bugzilla_id", testCase.bugzillaID.map(String.init)),
            ("TC_ID", testCase.tcID),
            ("state", testCase.state),
        ]
        writer.start("case", attributes)
        if let description = testCase.description {
            writer.text("description", description)
        }
        testCase.steps.forEach { write($0, into: &writer, fractional) }
        for event in testCase.events {
            writer.start(
                "event",
                [
                    "type": event.kind.rawValue, "resource": event.resource, "timeout": String(event.timeout),
                    "result": event.result.rawValue,
                ]
            )
            for param in event.params {
                writer.text("param", param.value, ["type": param.type.rawValue, "name": param.name])
            }
            writer.end()
        }
        for measurement in testCase.measurements {
            writer.empty(
                "measurement",
                [
                    "name": measurement.name,
                    "value": number(measurement.value),
                    "unit": measurement.unit,
                    "target": measurement.target.map(number),
                    "failure": measurement.failure.map(number),
                ]
            )
        }
        for series in testCase.series {
            writer.start(
                "series",
                [
                    "name": series.name,
                    "unit": series.unit,
                    "group": series.group,
                    "target": series.target.map(number),
                    "failure": series.failure.map(number),
                    "interval": series.interval.map(String.init),
                    "interval_unit": series.intervalUnit,
                ]
            )
            let formatter = ISO8601DateFormatter()
            for point in series.points {
                writer.empty("measurement", ["value": number(point.value), "timestamp": point.timestamp.map(formatter.string(from:))])
            }
            writer.end()
        }
        if let uuid = testCase.richCoreUUID {
            writer.text("rich_core_uuid", uuid)
        }
        for id in testCase.crashIDs {
            writer.text("crash_id", id)
        }
        writer.end()
    }

    private static func write(_ step: StepResult, into writer: inout XMLWriter, _ fractional: Bool) {
        writer.start(
            "step",
            [
                "command": step.command,
                "result": step.result.rawValue,
                "manual": step.manual.map { $0 ? "true" : "false" },
                "control": step.control,
                "failure_info": step.failureInfo,
            ]
        )
        writer.text("expected_result", String(step.expectedResult))
        // A step that did not run has return code 0, as testrunner-lite writes it.
        writer.text("return_code", String(step.returnCode ?? 0))
        writer.text("start", timestamp(step.start, fractional: fractional))
        writer.text("end", timestamp(step.end, fractional: fractional))
        writer.text("stdout", step.stdout ?? "")
        writer.text("stderr", step.stderr ?? "")
        if !step.postRebootSteps.isEmpty {
            writer.start("post_reboot_steps")
            step.postRebootSteps.forEach { write($0, into: &writer, fractional) }
            writer.end()
        }
        writer.end()
    }

    /// A number as xs:float reads it: integers without a fraction.
    static func number(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 {
            return String(Int64(value))
        }
        return String(value)
    }
}
