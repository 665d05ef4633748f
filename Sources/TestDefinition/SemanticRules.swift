/// The stricter rules of semantic validation (`ots run -s`,
/// `ots validate --semantic`): the controlled vocabularies of the
/// testdefinition tm_terms schema and values a test lab can trust.
public enum SemanticRules {
    /// The allowed values of `type`.
    public static let types: Set<String> = [
        "unknown", "Functional positive", "Functional negative", "Security", "Performance", "Reliability",
        "User experience", "Maintainability", "Portability",
    ]
    /// The allowed values of `level`.
    public static let levels: Set<String> = ["unknown", "Component", "Feature", "System", "Product"]
    /// The allowed values of a case's `state`.
    public static let states: Set<String> = ["Design", "Ready", "Approved"]
    /// The allowed values of a step's `control`.
    public static let controls: Set<String> = ["none", "reboot", "reboot_expected"]
    /// The longest timeout accepted, in seconds (one day): a longer one is
    /// almost always a typing error that would hold a device for days.
    public static let maximumTimeout = 86_400

    /// Every semantic problem of a definition that already follows the schema.
    public static func check(_ definition: TestDefinition) -> [DefinitionError] {
        var checker = Checker()
        for suite in definition.suites {
            checker.general(suite.attributes, element: "suite", at: suite.location)
            for set in suite.sets {
                checker.general(set.attributes, element: "set", at: set.location)
                for group in [set.preSteps, set.postSteps, set.postRebootSteps].compactMap({ $0 }) {
                    checker.timeout(group.timeout, element: "step group", at: set.location)
                    group.steps.forEach { checker.step($0) }
                }
                for file in set.get {
                    checker.file(file, at: set.location)
                }
                for testCase in set.cases {
                    checker.general(testCase.attributes, element: "case", at: testCase.location)
                    if let state = testCase.state, !states.contains(state) {
                        checker.fail(
                            at: testCase.location,
                            "state '\(state.inMessage())' of case '\(testCase.name.inMessage())' is not one of \(list(states))")
                    }
                    for item in testCase.items {
                        switch item {
                        case .step(let step): checker.step(step)
                        case .event(let event):
                            if event.resource.trimmingXMLWhitespace().isEmpty {
                                checker.fail(at: event.location, "an event needs a non-empty resource")
                            }
                            checker.timeout(event.timeout, element: "event", at: event.location)
                        }
                    }
                    for file in testCase.get {
                        checker.file(file, at: testCase.location)
                    }
                }
            }
        }
        return checker.errors
    }

    static func list(_ values: Set<String>) -> String {
        values.sorted().map { "'\($0)'" }.joined(separator: ", ")
    }

    private struct Checker {
        var errors: [DefinitionError] = []

        mutating func fail(at location: SourceLocation, _ message: String) {
            errors.append(DefinitionError(.semantic, at: location, message))
        }

        mutating func general(_ attributes: GeneralAttributes, element: String, at location: SourceLocation) {
            if attributes.name.trimmingXMLWhitespace().isEmpty {
                fail(at: location, "a \(element) needs a non-empty name")
            }
            if let type = attributes.type, !types.contains(type) {
                fail(at: location, "type '\(type.inMessage())' of \(element) '\(attributes.name.inMessage())' is not one of \(list(types))")
            }
            if let level = attributes.level, !levels.contains(level) {
                fail(
                    at: location,
                    "level '\(level.inMessage())' of \(element) '\(attributes.name.inMessage())' is not one of \(list(levels))")
            }
            timeout(attributes.timeout, element: "\(element) '\(attributes.name.inMessage())'", at: location)
        }

        mutating func timeout(_ timeout: Int?, element: String, at location: SourceLocation) {
            if let timeout, timeout > maximumTimeout {
                fail(at: location, "timeout \(timeout) s of \(element) is longer than one day (\(maximumTimeout) s)")
            }
        }

        mutating func step(_ step: Step) {
            if step.command.trimmingXMLWhitespace().isEmpty, step.manual != true {
                fail(at: step.location, "a step needs a command")
            }
            if let control = step.control, !controls.contains(control) {
                fail(at: step.location, "control '\(control.inMessage())' of a step is not one of \(list(controls))")
            }
        }

        mutating func file(_ file: FetchFile, at location: SourceLocation) {
            if file.path.isEmpty {
                fail(at: location, "a <file> to get needs a path")
            }
        }
    }
}
