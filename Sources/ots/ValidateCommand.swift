import ArgumentParser
import TestDefinition

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check test definitions (tests.xml) against the schema.",
        discussion: """
            Prints every problem as file:line:column: message. Exits 0 when every \
            file is valid, 3 when any does not parse or breaks the schema, and 4 \
            when the only problems are semantic (with --semantic).
            """
    )

    @Flag(name: [.short, .long], help: "Also apply the semantic rules (controlled vocabularies, sane values).")
    var semantic = false

    @Argument(help: "The test definitions to check.")
    var files: [String]

    func validate() throws {
        if files.isEmpty {
            throw ValidationError("give at least one file to check")
        }
    }

    func run() throws {
        let parser = DefinitionParser(semantic: semantic)
        var worst: Int32 = 0
        for file in files {
            do {
                _ = try parser.parse(contentsOf: file)
                print("\(file): valid")
            } catch {
                for problem in error.errors {
                    printError(problem.description)
                }
                worst = max(worst, error.isSyntactic ? ExitStatus.definitionInvalid : ExitStatus.definitionSemanticallyInvalid)
            }
        }
        if worst != 0 {
            throw ExitCode(worst)
        }
    }
}
