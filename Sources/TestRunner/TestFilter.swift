import Foundation
import TestDefinition

/// testrunner-lite's `-l/--filter`: which cases run.
///
/// A filter is white-space separated terms `[+|-]key=value[,value...]`:
/// `+` (or no sign) keeps only what matches one of the values, `-` drops
/// what matches one of them; everything must pass every term. A value with
/// spaces is quoted (`type="Functional positive"`).
///
/// As in testrunner-lite, `testsuite`, `testset` and `feature` (the set's,
/// inherited from its suite) select sets, and `testcase`, `type`,
/// `requirement` and `component` select cases. Filtered sets and cases are
/// not run and not written; a set whose cases are all filtered is still
/// run (its pre- and post-steps) and written.
public struct TestFilter: Sendable, Hashable {
    public enum Key: String, Sendable, Hashable, CaseIterable {
        case testsuite
        case testset
        case testcase
        case feature
        case requirement
        case type
        case component
    }

    public struct Term: Sendable, Hashable {
        public var include: Bool
        public var key: Key
        public var values: [String]
    }

    public var terms: [Term]

    /// A filter that keeps everything.
    public init() {
        terms = []
    }

    public init(parsing text: String) throws(RunnerError) {
        terms = []
        for word in try Self.words(text) {
            var body = Substring(word)
            var include = true
            if body.hasPrefix("+") {
                body = body.dropFirst()
            } else if body.hasPrefix("-") {
                include = false
                body = body.dropFirst()
            }
            guard let equals = body.firstIndex(of: "=") else {
                throw RunnerError(.invalidArgument, "filter term '\(word)' needs the form [+|-]key=value")
            }
            let keyText = String(body[..<equals]).lowercased()
            guard let key = Key(rawValue: keyText) else {
                let keys = Key.allCases.map(\.rawValue).joined(separator: ", ")
                throw RunnerError(.invalidArgument, "filter term '\(word)': unknown key '\(keyText)' (use one of \(keys))")
            }
            let values = body[body.index(after: equals)...].split(separator: ",").map {
                String($0).trimmingCharacters(in: .whitespaces)
            }.filter { !$0.isEmpty }
            guard !values.isEmpty else {
                throw RunnerError(.invalidArgument, "filter term '\(word)' has no value")
            }
            terms.append(Term(include: include, key: key, values: values))
        }
    }

    /// Whether the set runs; `attributes` are the set's, inherited.
    public func admits(set: TestSet, suite: Suite, attributes: GeneralAttributes) -> Bool {
        terms.allSatisfy { term in
            switch term.key {
            case .testsuite: term.values.contains(suite.name) == term.include
            case .testset: term.values.contains(set.name) == term.include
            case .feature: Self.list(attributes.feature).contains { term.values.contains($0) } == term.include
            case .testcase, .requirement, .type, .component: true
            }
        }
    }

    /// Whether the case runs; `attributes` are the case's, inherited.
    public func admits(case testCase: TestCase, attributes: GeneralAttributes) -> Bool {
        terms.allSatisfy { term in
            let matches: Bool
            switch term.key {
            case .testsuite, .testset, .feature: return true
            case .testcase: matches = term.values.contains(testCase.name)
            case .requirement: matches = Self.list(attributes.requirement).contains { term.values.contains($0) }
            case .type: matches = attributes.type.map { term.values.contains($0) } ?? false
            case .component: matches = Self.list(attributes.component).contains { term.values.contains($0) }
            }
            return matches == term.include
        }
    }

    /// An attribute holding a comma-separated list.
    private static func list(_ value: String?) -> [String] {
        guard let value else { return [] }
        return value.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
    }

    /// Splits on white space outside double or single quotes; quotes go.
    private static func words(_ text: String) throws(RunnerError) -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        for character in text {
            if let open = quote {
                if character == open { quote = nil } else { current.append(character) }
            } else if character == "\"" || character == "'" {
                quote = character
                inWord = true
            } else if character.isWhitespace {
                if inWord { words.append(current) }
                current = ""
                inWord = false
            } else {
                current.append(character)
                inWord = true
            }
        }
        if quote != nil {
            throw RunnerError(.invalidArgument, "filter '\(text)' has an unclosed quote")
        }
        if inWord { words.append(current) }
        return words
    }
}
