import Foundation
import OTSCore
import TestDefinition

extension Farm {
    /// Definitions sent with a request must read as the workers will read
    /// them: a refusal names the definition and the line, and stores
    /// nothing.
    static func checkInlineDefinitions(_ request: TestrunRequest) throws {
        for (index, definition) in (request.inlineDefinitions ?? []).enumerated() {
            do {
                _ = try DefinitionParser(lenient: true).parse(Data(definition.xml.utf8), file: definition.name)
            } catch {
                let field = "inline_definitions[\(index)].xml"
                throw DomainError(.invalid, "\(field): \(String(describing: error).prefix(1000))", field: field)
            }
        }
    }
}
