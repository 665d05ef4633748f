import Foundation

/// Reads test definitions (tests.xml) and checks them against the
/// testdefinition schema and, on request, against its semantic rules.
///
///     let definition = try DefinitionParser().parse(contentsOf: "tests.xml")
///
/// Every problem is reported with its `file:line:column`; a definition with
/// any problem is rejected whole.
public struct DefinitionParser: Sendable {
    /// Also apply the stricter semantic rules (`-s`): the controlled
    /// vocabularies of type, level, state and control, non-empty names and
    /// commands, and sane timeouts.
    public var semantic: Bool

    /// Report schema problems as warnings instead of rejecting the file
    /// (testrunner-lite's `-c/--ci`). Malformed XML is still rejected.
    public var lenient: Bool

    public init(semantic: Bool = false, lenient: Bool = false) {
        self.semantic = semantic
        self.lenient = lenient
    }

    /// Reads and checks the definition in a file.
    public func parse(contentsOf path: String) throws(DefinitionErrors) -> TestDefinition {
        try read(contentsOf: path).definition
    }

    /// Reads and checks the definition in a file; in lenient mode, schema
    /// problems come back as warnings.
    public func read(contentsOf path: String) throws(DefinitionErrors) -> (definition: TestDefinition, warnings: [DefinitionError]) {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            let reason = describeReadFailure(path)
            throw DefinitionErrors([
                DefinitionError(.unreadable, at: SourceLocation(file: path, line: 0, column: 0), "cannot read the file: \(reason)")
            ])
        }
        return try read(data, file: path)
    }

    /// Reads and checks a definition held in memory; `file` names it in messages.
    public func parse(_ data: Data, file: String) throws(DefinitionErrors) -> TestDefinition {
        try read(data, file: file).definition
    }

    /// Reads and checks a definition held in memory; in lenient mode,
    /// schema problems come back as warnings.
    public func read(_ data: Data, file: String) throws(DefinitionErrors) -> (definition: TestDefinition, warnings: [DefinitionError]) {
        let root: XMLElement
        do {
            root = try XMLTreeReader.read(data, file: file)
        } catch {
            throw DefinitionErrors([error])
        }
        var builder = Builder(file: file)
        let definition = builder.definition(root)
        var warnings: [DefinitionError] = []
        if !builder.schema.errors.isEmpty {
            if !lenient || root.name != "testdefinition" {
                throw DefinitionErrors(builder.schema.errors)
            }
            warnings = builder.schema.errors
        }
        if semantic {
            let problems = SemanticRules.check(definition)
            if !problems.isEmpty {
                throw DefinitionErrors(problems)
            }
        }
        return (definition, warnings)
    }

    private func describeReadFailure(_ path: String) -> String {
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            return "no such file"
        }
        if isDirectory.boolValue {
            return "it is a directory"
        }
        if !FileManager.default.isReadableFile(atPath: path) {
            return "permission denied"
        }
        return "read error"
    }
}

/// Builds the model from the XML tree, checking the schema as it goes.
private struct Builder {
    let file: String
    var schema = SchemaReader()

    init(file: String) {
        self.file = file
    }

    mutating func definition(_ root: XMLElement) -> TestDefinition {
        guard root.name == "testdefinition" else {
            schema.error(root, "the root element is <\(root.name)>, expected <testdefinition>")
            return TestDefinition(version: "", suites: [], file: file)
        }
        schema.checkAttributes(root, allowed: ["version"])
        schema.checkChildren(root, allowed: ["hwiddetect", "description", "suite"])
        schema.checkNoText(root)
        let version = schema.required(root, "version")
        checkOrder(root, ["hwiddetect", "description", "suite"])
        schema.checkAtMostOnce(root, child: "hwiddetect")
        schema.checkAtMostOnce(root, child: "description")

        var hwiddetect: String?
        if let element = root.children.first(where: { $0.name == "hwiddetect" }) {
            schema.checkAttributes(element, allowed: [])
            schema.checkChildren(element, allowed: [])
            hwiddetect = element.text
        }
        let description = root.children.first { $0.name == "description" }.map(\.text)
        var suites: [Suite] = []
        var suiteNames: [String: SourceLocation] = [:]
        for element in root.children where element.name == "suite" {
            let suite = suite(element)
            unique(suite.name, kind: "suite", scope: "test definition", at: element, seen: &suiteNames)
            suites.append(suite)
        }
        if suites.isEmpty {
            schema.error(root, "<testdefinition> needs at least one <suite>")
        }
        return TestDefinition(
            version: version, hwiddetect: hwiddetect, description: description, suites: suites, file: file,
            keepWhole: otsInstructions(root.instructions))
    }

    /// OTS's settings in `<?ots name="value" ...?>` instructions (other
    /// targets are left alone): `keep-whole` (true or false). Returns
    /// whether the package is kept whole.
    private mutating func otsInstructions(_ instructions: [XMLInstruction]) -> Bool {
        var keepWhole = false
        for instruction in instructions where instruction.target == "ots" {
            guard let settings = Self.pseudoAttributes(instruction.data) else {
                schema.error(
                    at: instruction.location,
                    "<?ots \(instruction.data.inMessage(limit: 60))?>: write settings as name=\"value\", like <?ots keep-whole=\"true\"?>")
                continue
            }
            for (name, value) in settings {
                switch name {
                case "keep-whole":
                    switch value {
                    case "true": keepWhole = true
                    case "false": keepWhole = false
                    default:
                        schema.error(
                            at: instruction.location, "<?ots keep-whole?> must be \"true\" or \"false\", not '\(value.inMessage())'")
                    }
                default:
                    schema.error(at: instruction.location, "<?ots?>: unknown setting '\(name.inMessage(limit: 50))' (known: keep-whole)")
                }
            }
        }
        return keepWhole
    }

    /// `name="value" name='value'` pairs; nil when the text is not made of them.
    static func pseudoAttributes(_ text: String) -> [(String, String)]? {
        var pairs: [(String, String)] = []
        var rest = Substring(text)
        while true {
            rest = rest.drop { $0.isWhitespace }
            if rest.isEmpty { return pairs.isEmpty ? nil : pairs }
            let name = rest.prefix { !$0.isWhitespace && $0 != "=" }
            rest = rest.dropFirst(name.count).drop { $0.isWhitespace }
            guard !name.isEmpty, rest.first == "=" else { return nil }
            rest = rest.dropFirst().drop { $0.isWhitespace }
            guard let quote = rest.first, quote == "\"" || quote == "'" else { return nil }
            rest = rest.dropFirst()
            guard let end = rest.firstIndex(of: quote) else { return nil }
            pairs.append((String(name), String(rest[..<end])))
            rest = rest[rest.index(after: end)...]
        }
    }

    /// Checks that children come in the order the schema's sequence gives.
    private mutating func checkOrder(_ element: XMLElement, _ order: [String]) {
        var position = 0
        for child in element.children {
            guard let index = order.firstIndex(of: child.name) else { continue }
            if index < position {
                schema.error(child, "<\(child.name)> must come before <\(order[position])> in <\(element.name)>")
            }
            position = max(position, index)
        }
    }

    private mutating func unique(
        _ name: String,
        kind: String,
        scope: String,
        at element: XMLElement,
        seen: inout [String: SourceLocation]
    ) {
        if let first = seen[name] {
            schema.error(element, "duplicate \(kind) name '\(name.inMessage())' in this \(scope) (first at line \(first.line))")
        } else {
            seen[name] = element.location
        }
    }

    private mutating func general(_ element: XMLElement) -> GeneralAttributes {
        schema.generalAttributes(element)
    }

    private mutating func suite(_ element: XMLElement) -> Suite {
        schema.checkAttributes(element, allowed: GeneralAttributes.names)
        schema.checkChildren(element, allowed: ["description", "set"])
        schema.checkNoText(element)
        checkOrder(element, ["description", "set"])
        schema.checkAtMostOnce(element, child: "description")
        let attributes = general(element)
        var sets: [TestSet] = []
        var setNames: [String: SourceLocation] = [:]
        for child in element.children where child.name == "set" {
            let set = testSet(child)
            unique(set.name, kind: "set", scope: "suite", at: child, seen: &setNames)
            sets.append(set)
        }
        return Suite(
            attributes: attributes,
            descriptionText: element.children.first { $0.name == "description" }?.text,
            sets: sets,
            location: element.location
        )
    }

    private mutating func testSet(_ element: XMLElement) -> TestSet {
        schema.checkAttributes(element, allowed: GeneralAttributes.names)
        schema.checkChildren(
            element,
            allowed: ["description", "pre_steps", "post_steps", "post_reboot_steps", "case", "environments", "get"]
        )
        schema.checkNoText(element)
        var set = TestSet(attributes: general(element), location: element.location)
        var caseNames: [String: SourceLocation] = [:]
        for child in element.children {
            switch child.name {
            case "description":
                set.descriptionText = (set.descriptionText.map { $0 + "\n" } ?? "") + child.text
            case "pre_steps":
                set.preSteps = merge(set.preSteps, stepGroup(child))
            case "post_steps":
                set.postSteps = merge(set.postSteps, stepGroup(child))
            case "post_reboot_steps":
                set.postRebootSteps = merge(set.postRebootSteps, stepGroup(child))
            case "case":
                let testCase = testCase(child)
                unique(testCase.name, kind: "case", scope: "set", at: child, seen: &caseNames)
                set.cases.append(testCase)
            case "environments":
                set.environments.merge(environments(child)) { _, new in new }
            case "get":
                set.get += get(child)
            default:
                break
            }
        }
        return set
    }

    /// The schema lets a set repeat its step groups; their steps add up.
    private func merge(_ existing: StepGroup?, _ new: StepGroup) -> StepGroup {
        guard var existing else { return new }
        existing.steps += new.steps
        existing.timeout = new.timeout ?? existing.timeout
        return existing
    }

    private mutating func stepGroup(_ element: XMLElement) -> StepGroup {
        schema.checkAttributes(element, allowed: ["timeout"])
        schema.checkChildren(element, allowed: ["step"])
        schema.checkNoText(element)
        let steps = element.children.filter { $0.name == "step" }.map { step($0) }
        if steps.isEmpty {
            schema.error(element, "<\(element.name)> needs at least one <step>")
        }
        return StepGroup(timeout: schema.positiveInteger(element, "timeout"), steps: steps)
    }

    private mutating func step(_ element: XMLElement) -> Step {
        schema.checkAttributes(element, allowed: ["expected_result", "manual", "control"])
        schema.checkChildren(element, allowed: [])
        return Step(
            command: element.text,
            expectedResult: schema.unsignedShort(element, "expected_result"),
            manual: schema.boolean(element, "manual"),
            control: element.attributes["control"],
            location: element.location
        )
    }

    private mutating func testCase(_ element: XMLElement) -> TestCase {
        schema.checkAttributes(
            element,
            allowed: GeneralAttributes.names.union(["subfeature", "bugzilla_id", "TC_ID", "state"])
        )
        schema.checkChildren(element, allowed: ["description", "step", "event", "get"])
        schema.checkNoText(element)
        var testCase = TestCase(
            attributes: general(element),
            subfeature: element.attributes["subfeature"],
            bugzillaID: schema.positiveInteger(element, "bugzilla_id"),
            tcID: element.attributes["TC_ID"],
            state: element.attributes["state"],
            location: element.location
        )
        for child in element.children {
            switch child.name {
            case "description":
                testCase.descriptionText = (testCase.descriptionText.map { $0 + "\n" } ?? "") + child.text
            case "step":
                testCase.items.append(.step(step(child)))
            case "event":
                testCase.items.append(.event(event(child)))
            case "get":
                testCase.get += get(child)
            default:
                break
            }
        }
        return testCase
    }

    private mutating func get(_ element: XMLElement) -> [FetchFile] {
        schema.checkAttributes(element, allowed: [])
        schema.checkChildren(element, allowed: ["file"])
        schema.checkNoText(element)
        var files: [FetchFile] = []
        for child in element.children where child.name == "file" {
            schema.checkAttributes(child, allowed: ["delete_after", "measurement", "series"])
            schema.checkChildren(child, allowed: [])
            files.append(
                FetchFile(
                    path: child.text.trimmingXMLWhitespace(),
                    deleteAfter: schema.boolean(child, "delete_after") ?? false,
                    measurement: schema.boolean(child, "measurement") ?? false,
                    series: schema.boolean(child, "series") ?? false
                )
            )
        }
        if files.isEmpty {
            schema.error(element, "<get> needs at least one <file>")
        }
        return files
    }

    /// `environments` has no schema of its own; by convention each child
    /// names an environment and holds true or false. Only `false` changes
    /// anything (testrunner-lite).
    private func environments(_ element: XMLElement) -> [String: Bool] {
        var result: [String: Bool] = [:]
        for child in element.children {
            result[child.name] = child.text.trimmingXMLWhitespace() != "false"
        }
        return result
    }

    private mutating func event(_ element: XMLElement) -> TestEvent {
        schema.checkAttributes(element, allowed: ["type", "resource", "timeout"])
        schema.checkChildren(element, allowed: ["param"])
        schema.checkNoText(element)
        let kindPresent = element.attributes["type"] != nil
        let kind = schema.enumeration(element, "type", TestEvent.Kind.self)
        if !kindPresent {
            _ = schema.required(element, "type")
        }
        let resource = schema.required(element, "resource")
        let timeout = schema.positiveInteger(element, "timeout") ?? 90
        var params: [EventParam] = []
        for child in element.children where child.name == "param" {
            schema.checkAttributes(child, allowed: ["type", "name"])
            schema.checkChildren(child, allowed: [])
            let typePresent = child.attributes["type"] != nil
            let type = schema.enumeration(child, "type", EventParam.ValueType.self)
            if !typePresent {
                _ = schema.required(child, "type")
            }
            let name = schema.required(child, "name")
            params.append(EventParam(type: type ?? .string, name: name, value: child.text))
        }
        return TestEvent(kind: kind ?? .send, resource: resource, timeout: timeout, params: params, location: element.location)
    }
}
