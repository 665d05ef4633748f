import Foundation

@testable import TestDefinition

/// The properties every answer of the parsers must have, whatever the
/// input: a model whose positions are in the file, or errors that each
/// name the file, a line in it and a column, in one line of text.
enum ParseOutcome {
    /// The highest line number the document can have (libxml2 counts a
    /// lone carriage return as a line break too).
    static func lineCount(_ bytes: [UInt8]) -> Int {
        bytes.reduce(1) { $1 == UInt8(ascii: "\n") || $1 == UInt8(ascii: "\r") ? $0 + 1 : $0 }
    }

    static func checkLocation(_ location: SourceLocation, file: String, lines: Int, what: String) throws(PropertyFailure) {
        try require(location.file == file, "\(what) names the file '\(location.file)', not '\(file)'")
        try require(
            (1...lines).contains(location.line), "\(what) is at line \(location.line), outside the document's \(lines) lines")
        try require(location.column >= 1, "\(what) is at column \(location.column)")
    }

    /// Errors that say clearly what is wrong and where: one error when
    /// the document does not read as XML, each naming the file and line.
    static func checkErrors(_ errors: DefinitionErrors, file: String, bytes: [UInt8]) throws(PropertyFailure) {
        let lines = lineCount(bytes)
        try require(!errors.errors.isEmpty, "no error in the errors")
        for error in errors.errors {
            try checkLocation(error.location, file: file, lines: lines, what: "the error '\(error.message)'")
            try require(!error.message.isEmpty, "an error has no message")
            try require(
                !error.message.contains(where: \.isNewline), "the error message is not one line: \(error.message.debugDescription)")
            try require(
                !error.message.contains("libxml2 error"), "the error message gives a parser's number, not a reason: \(error.message)")
            try require(
                error.description == "\(file):\(error.location.line):\(error.location.column): \(error.message)",
                "the error reads '\(error.description)', not file:line:column: message")
        }
        if errors.errors.contains(where: { $0.code == .malformed }) {
            try require(errors.errors.count == 1, "malformed XML gives \(errors.errors.count) errors, not one: \(errors)")
        }
    }

    /// A definition whose every element is placed in the document.
    static func checkModel(_ definition: TestDefinition, file: String, bytes: [UInt8]) throws(PropertyFailure) {
        let lines = lineCount(bytes)
        try require(definition.file == file, "the definition names the file '\(definition.file)'")
        for suite in definition.suites {
            try checkLocation(suite.location, file: file, lines: lines, what: "suite '\(suite.name)'")
            for set in suite.sets {
                try checkLocation(set.location, file: file, lines: lines, what: "set '\(set.name)'")
                for testCase in set.cases {
                    try checkLocation(testCase.location, file: file, lines: lines, what: "case '\(testCase.name)'")
                    for item in testCase.items {
                        switch item {
                        case .step(let step): try checkLocation(step.location, file: file, lines: lines, what: "a step")
                        case .event(let event): try checkLocation(event.location, file: file, lines: lines, what: "an event")
                        }
                    }
                }
            }
        }
    }

    /// Keeps the input in the file OTS_FUZZ_TRACE names, if any, before
    /// it is parsed: when the parser crashes the process, the input that
    /// did it is left there.
    static func trace(_ bytes: [UInt8]) {
        if let path = ProcessInfo.processInfo.environment["OTS_FUZZ_TRACE"], !path.isEmpty {
            FileManager.default.createFile(atPath: path, contents: Data(bytes))
        }
    }

    /// Parses a definition in every mode and checks what comes back.
    static func checkDefinition(_ bytes: [UInt8], file: String = "fuzz.xml") throws(PropertyFailure) {
        trace(bytes)
        let data = Data(bytes)
        let strict = Result { () throws(DefinitionErrors) in try DefinitionParser().read(data, file: file) }
        switch strict {
        case .success(let read):
            try checkModel(read.definition, file: file, bytes: bytes)
            try require(read.warnings.isEmpty, "a strict parse came back with warnings")
        case .failure(let errors):
            try checkErrors(errors, file: file, bytes: bytes)
        }
        let again = Result { () throws(DefinitionErrors) in try DefinitionParser().read(data, file: file) }
        switch (strict, again) {
        case (.success(let first), .success(let second)):
            try require(first.definition == second.definition && first.warnings == second.warnings, "parsing twice read two models")
        case (.failure(let first), .failure(let second)):
            try require(first.errors == second.errors, "parsing twice gave two sets of errors:\n\(first)\n\(second)")
        default:
            throw PropertyFailure(description: "parsing the same bytes twice gave two answers")
        }

        let lenient = Result { () throws(DefinitionErrors) in try DefinitionParser(lenient: true).read(data, file: file) }
        switch (strict, lenient) {
        case (.success(let read), .success(let relaxed)):
            try require(read.definition == relaxed.definition && relaxed.warnings.isEmpty, "lenient mode reads a valid file differently")
        case (.success, .failure(let errors)):
            throw PropertyFailure(description: "lenient mode rejects a file that strict mode accepts: \(errors)")
        case (.failure(let errors), .success(let relaxed)):
            try require(
                relaxed.warnings == errors.errors, "lenient mode warns of \(relaxed.warnings), strict mode rejects with \(errors)")
            try checkModel(relaxed.definition, file: file, bytes: bytes)
        case (.failure(let errors), .failure(let relaxed)):
            try require(errors.errors == relaxed.errors, "lenient mode rejects with other errors than strict mode")
        }

        let semantic = Result { () throws(DefinitionErrors) in try DefinitionParser(semantic: true).read(data, file: file) }
        switch (strict, semantic) {
        case (.success, .failure(let errors)):
            try require(errors.errors.allSatisfy { $0.code == .semantic }, "semantic mode gives non-semantic errors: \(errors)")
            try checkErrors(errors, file: file, bytes: bytes)
        case (.failure, .success):
            throw PropertyFailure(description: "semantic mode accepts a file that the schema rejects")
        default:
            break
        }
    }
}
