import PropertyBased

@testable import TestDefinition

/// A valid test definition built at random, with what the parser must read
/// from it: every suite, set and case by name, every step's command and
/// expected result, every timeout.
struct GeneratedDefinition: Sendable, CustomStringConvertible {
    var root: FuzzNode
    /// One line per case, step group and event, in document order.
    var expected: [String]

    var xml: String { "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + root.xml + "\n" }
    var description: String { xml }

    /// The same lines of a parsed definition.
    static func summary(_ definition: TestDefinition) -> [String] {
        var lines: [String] = []
        for suite in definition.suites {
            for set in suite.sets {
                let prefix =
                    "\(suite.name.debugDescription)/\(set.name.debugDescription) timeout \(set.attributes.timeout.map(String.init) ?? "-")"
                if let group = set.preSteps {
                    lines.append("\(prefix) pre \(group.timeout.map(String.init) ?? "-"): \(group.steps.map(step))")
                }
                for testCase in set.cases {
                    var line = "\(prefix)/\(testCase.name.debugDescription) timeout \(testCase.attributes.timeout.map(String.init) ?? "-"):"
                    for item in testCase.items {
                        switch item {
                        case .step(let value): line += " \(step(value))"
                        case .event(let event):
                            line +=
                                " event \(event.kind) \(event.resource.debugDescription) \(event.timeout) \(event.params.map { "\($0.type) \($0.name.debugDescription)=\($0.value.debugDescription)" })"
                        }
                    }
                    lines.append(line)
                }
                if let group = set.postSteps {
                    lines.append("\(prefix) post \(group.timeout.map(String.init) ?? "-"): \(group.steps.map(step))")
                }
            }
        }
        return lines
    }

    private static func step(_ step: Step) -> String {
        "\(step.command.debugDescription)->\(step.explicitExpectedResult.map(String.init) ?? "-")"
    }

    /// Text any XML 1.0 document can hold, strange parts included.
    static let text = Dice.generator { dice -> String in
        var result = ""
        for _ in 0..<dice.int(0...4) {
            switch dice.int(0...3) {
            case 0: result += dice.one(of: FuzzValues.words)
            case 1:
                for _ in 0..<dice.int(1...8) {
                    if let scalar = Unicode.Scalar(UInt32.random(in: 0...0x10FFFF, using: &dice.rng)), isXMLCharacter(scalar) {
                        result.unicodeScalars.append(scalar)
                    }
                }
            default: result += dice.draw(Gen.letterOrNumber.string(of: 1...12))
            }
        }
        return result
    }

    /// A timeout attribute, or none.
    private static func timeout(_ dice: Dice) -> Int? {
        switch dice.int(0...3) {
        case 0: nil
        case 1: dice.int(1...Int.max)
        default: dice.int(1...100_000)
        }
    }

    private static func step(_ dice: Dice) -> (node: FuzzNode, line: String) {
        let command = dice.draw(text)
        var node = FuzzNode("step", [], command.isEmpty ? [] : [.text(command)])
        let result = dice.maybe { dice.int(0...65535) }
        if let result { node.set("expected_result", String(result)) }
        return (node, "\(command.debugDescription)->\(result.map(String.init) ?? "-")")
    }

    private static func group(_ kind: String, _ dice: Dice) -> (node: FuzzNode, line: String) {
        var node = FuzzNode(kind)
        let limit = timeout(dice)
        if let limit { node.set("timeout", String(limit)) }
        let steps = dice.some(1...3) { _ in step(dice) }
        node.children = steps.map { .element($0.node) }
        return (node, "\(limit.map(String.init) ?? "-"): \(steps.map(\.line))")
    }

    private static func event(_ dice: Dice) -> (node: FuzzNode, line: String) {
        let kind = dice.one(of: TestEvent.Kind.allCases)
        let resource = dice.draw(text)
        let limit = dice.int(1...1000)
        var node = FuzzNode("event", [("type", kind.rawValue), ("resource", resource), ("timeout", String(limit))])
        let params = dice.some(0...2) { index in
            let type = dice.one(of: EventParam.ValueType.allCases)
            let name = dice.draw(text) + "#\(index)"
            let value = dice.draw(text)
            node.children.append(
                .element(FuzzNode("param", [("type", type.rawValue), ("name", name)], value.isEmpty ? [] : [.text(value)])))
            return "\(type) \(name.debugDescription)=\(value.debugDescription)"
        }
        return (node, "event \(kind) \(resource.debugDescription) \(limit) \(params)")
    }

    static let generator = Dice.generator { dice -> GeneratedDefinition in
        var expected: [String] = []
        var root = FuzzNode("testdefinition", [("version", dice.draw(text))])
        for suiteIndex in 0..<dice.int(1...3) {
            let suiteName = dice.draw(text) + "#\(suiteIndex)"
            var suite = FuzzNode("suite", [("name", suiteName)])
            for setIndex in 0..<dice.int(1...3) {
                let setName = dice.draw(text) + "#\(setIndex)"
                var set = FuzzNode("set", [("name", setName)])
                let setTimeout = timeout(dice)
                if let setTimeout { set.set("timeout", String(setTimeout)) }
                let prefix = "\(suiteName.debugDescription)/\(setName.debugDescription) timeout \(setTimeout.map(String.init) ?? "-")"
                if dice.bool() {
                    let pre = group("pre_steps", dice)
                    set.children.append(.element(pre.node))
                    expected.append("\(prefix) pre \(pre.line)")
                }
                for caseIndex in 0..<dice.int(0...3) {
                    let caseName = dice.draw(text) + "#\(caseIndex)"
                    var testCase = FuzzNode("case", [("name", caseName)])
                    let caseTimeout = timeout(dice)
                    if let caseTimeout { testCase.set("timeout", String(caseTimeout)) }
                    var line = "\(prefix)/\(caseName.debugDescription) timeout \(caseTimeout.map(String.init) ?? "-"):"
                    for _ in 0..<dice.int(0...3) {
                        let item = dice.int(0...3) == 0 ? event(dice) : step(dice)
                        testCase.children.append(.element(item.node))
                        line += " " + item.line
                    }
                    set.children.append(.element(testCase))
                    expected.append(line)
                }
                if dice.bool() {
                    let post = group("post_steps", dice)
                    set.children.append(.element(post.node))
                    expected.append("\(prefix) post \(post.line)")
                }
                suite.children.append(.element(set))
            }
            root.children.append(.element(suite))
        }
        return GeneratedDefinition(root: root, expected: expected)
    }
}
