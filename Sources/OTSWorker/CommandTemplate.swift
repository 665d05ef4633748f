/// A device command from a worker's configuration: an argument vector whose
/// words may hold placeholders (`{image}`, `{device}`, `{address}`, ...).
/// Each placeholder is replaced inside its own word, so a value never
/// splits into more words and never reaches a shell.
///
///     let flash = try CommandTemplate(["fastboot", "-s", "{serial}", "flash", "system", "{image}"])
///     let argv = try flash.arguments(["serial": "0042", "image": "/cache/img 1.bin"])
///     // ["fastboot", "-s", "0042", "flash", "system", "/cache/img 1.bin"]
public struct CommandTemplate: Sendable, Hashable, Codable {
    public let words: [String]

    /// The placeholders the words use.
    public var placeholders: Set<String> {
        Set(words.flatMap { Self.names(in: $0) })
    }

    public init(_ words: [String]) throws(WorkerError) {
        guard let first = words.first, !first.isEmpty else {
            throw WorkerError(.configuration, "a device command needs at least the program to run")
        }
        for word in words {
            var depth = 0
            for character in word {
                if character == "{" { depth += 1 }
                if character == "}" { depth -= 1 }
                if depth < 0 || depth > 1 {
                    throw WorkerError(.configuration, "unbalanced braces in the command word '\(word)'")
                }
            }
            if depth != 0 {
                throw WorkerError(.configuration, "unbalanced braces in the command word '\(word)'")
            }
        }
        self.words = words
    }

    public init(from decoder: any Decoder) throws {
        try self.init(try decoder.singleValueContainer().decode([String].self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(words)
    }

    /// The argument vector with every placeholder replaced; a placeholder
    /// without a value is an error that names it.
    public func arguments(_ values: [String: String]) throws(WorkerError) -> [String] {
        var result: [String] = []
        for word in words {
            var replaced = ""
            var name = ""
            var inside = false
            for character in word {
                switch (character, inside) {
                case ("{", false):
                    inside = true
                    name = ""
                case ("}", true):
                    inside = false
                    guard let value = values[name] else {
                        let known = values.keys.sorted().map { "{\($0)}" }.joined(separator: ", ")
                        throw WorkerError(
                            .configuration,
                            "the command '\(words.joined(separator: " "))' uses {\(name)}, which has no value here (known: \(known))")
                    }
                    replaced += value
                case (_, true):
                    name.append(character)
                default:
                    replaced.append(character)
                }
            }
            result.append(replaced)
        }
        return result
    }

    private static func names(in word: String) -> [String] {
        var names: [String] = []
        var name = ""
        var inside = false
        for character in word {
            if character == "{" {
                inside = true
                name = ""
            } else if character == "}" && inside {
                inside = false
                names.append(name)
            } else if inside {
                name.append(character)
            }
        }
        return names
    }
}
