import ArgumentParser
import Foundation
import Logging
import OTSBench
import OTSCore
import OTSHTTP
import OTSStore

/// `ots token`: makes, lists and revokes API tokens, straight in the
/// database (the way to the first admin token, before any exists).
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Create, list and revoke the API tokens of a farm.",
        discussion: """
            Works on the farm's database directly, so run it where the database can be reached. Scopes nest: read \
            (the read API, the stream and the dashboard), submit (also submit and cancel testruns), admin (also \
            manage tokens over the API). Workers get tokens of their own when they enroll.
            """,
        subcommands: [Create.self, List.self, Revoke.self]
    )

    struct DatabaseOption: ParsableArguments {
        @Option(help: "The database: sqlite:///path or postgres://user:password@host:port/database. Environment: OTS_DATABASE.")
        var database: String?

        func withStore<R>(_ body: (Store) async throws -> R) async throws -> R {
            let url = try (database ?? environment("OTS_DATABASE")).map(parseDatabaseURL) ?? DatabaseURL.defaultURL
            var logger = Logger(label: "ots.token")
            logger.logLevel = .warning
            let store: Store
            do {
                store = try await Store.open(url, logger: logger)
            } catch {
                printError("ots token: cannot open the database \(url): \(error)")
                throw ExitCode(1)
            }
            do {
                let result = try await body(store)
                await store.close()
                return result
            } catch {
                await store.close()
                throw error
            }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a token and print it (the only time it is shown; the database keeps only its hash).")

        @OptionGroup var options: DatabaseOption
        @Option(help: "Who or what holds it, like ci-bot or alice (1 to 100 characters).") var name: String
        @Option(help: "read, submit, submit-host (host packages and definitions by URL, where require_host_scope asks for it) or admin.")
        var scope: TokenScope
        @Flag(help: "Print the token and its record as JSON.") var json = false

        func validate() throws {
            if let problem = TokenRequest(name: name, scope: scope).problem {
                throw ValidationError("--\(problem.field): \(problem.message)")
            }
        }

        func run() async throws {
            let (text, record) = try await options.withStore { store in try await store.createToken(name: name, scope: scope) }
            if json {
                try printJSON(CreatedToken(token: text, info: record.info))
            } else {
                print(text)
                printError("token \(record.id) '\(name)' with the \(scope) scope; keep it secret, it is not shown again")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the tokens (never their secrets).")

        @OptionGroup var options: DatabaseOption
        @Flag(help: "Show revoked tokens too.") var all = false
        @Flag(help: "JSON instead of a table.") var json = false

        func run() async throws {
            let tokens = try await options.withStore { store in
                try await store.read { tx in try await tx.tokens(includeRevoked: all).map(\.info) }
            }
            if json { return try printJSON(tokens) }
            guard !tokens.isEmpty else { return print("no tokens") }
            let rows = tokens.map { token in
                [token.id, token.scope.rawValue, token.name, Self.date(token.createdAt), token.revokedAt.map(Self.date) ?? "-"]
            }
            let header = ["ID", "SCOPE", "NAME", "CREATED", "REVOKED"]
            let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
            for row in [header] + rows {
                let line = row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
                print(line.replacingOccurrences(of: #"\s+$"#, with: "", options: .regularExpression))
            }
        }

        static func date(_ date: Date) -> String {
            date.formatted(.iso8601.year().month().day().dateSeparator(.dash).time(includingFractionalSeconds: false))
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a token: it stops working at once on this database (servers notice within 5 seconds).")

        @OptionGroup var options: DatabaseOption
        @Argument(help: "The token's id (the first column of ots token list).") var id: String

        func run() async throws {
            let revoked = try await options.withStore { store in try await store.transaction { tx in try await tx.revokeToken(id: id) } }
            guard revoked else {
                printError("ots token revoke: no token \(id) that is not revoked already")
                throw ExitCode(1)
            }
            print("revoked \(id)")
        }
    }
}

extension TokenScope: ExpressibleByArgument {}
