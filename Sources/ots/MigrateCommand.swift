import ArgumentParser
import Foundation
import Logging
import OTSBench
import OTSStore

/// `ots migrate`: brings a database's schema up to this version of OTS.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply the schema migrations this OTS knows to a database.",
        discussion: "Components apply migrations when they start; run this before an upgrade to do it once, ahead of time."
    )

    @Option(help: "The database: sqlite:///path or postgres://user:password@host:port/database. Environment: OTS_DATABASE.")
    var database: String?

    func run() async throws {
        let text = database ?? environment("OTS_DATABASE")
        let url = try text.map(parseDatabaseURL) ?? DatabaseURL.defaultURL
        var logger = Logger(label: "ots.migrate")
        logger.logLevel = .warning
        do {
            let database = try Database.open(url, logger: logger)
            let before: Int
            let applied: [Int]
            do {
                try await Migrations.checkNotNewer(database)
                before = try await Migrations.currentVersion(database)
                applied = try await Migrations.migrate(database)
            } catch {
                await database.shutdown()
                throw error
            }
            await database.shutdown()
            if applied.isEmpty {
                print("\(url): schema version \(before), up to date")
            } else {
                print(
                    "\(url): schema version \(before) → \(Migrations.latestVersion) (applied \(applied.map(String.init).joined(separator: ", ")))"
                )
            }
        } catch let error as StoreError {
            printError("ots migrate: \(error.message)")
            throw ExitCode(1)
        }
    }
}
