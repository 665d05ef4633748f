import ArgumentParser
import TestDefinition

struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check test definitions (tests.xml) against the schema.",
        discussion: """
            Prints every problem as file:line:column: message. Exits 0 when every \
            file is valid; otherwise with the code ots run would: 1 a file cannot be \
            read, 3 a file is not well-formed XML, 4 a file breaks the schema (or the \
            semantic rules, with --semantic).
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
                print("\(file) validates")
            } catch {
                for problem in error.errors {
                    printError(problem.description)
                }
                let code = ExitStatus.code(for: error)
                worst = worst == 0 ? code : max(worst, code)
            }
        }
        if worst != 0 {
            throw ExitCode(worst)
        }
    }
}
