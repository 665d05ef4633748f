import ArgumentParser
import Foundation
import Logging
import OTSBench
import OTSCore

@main
struct OTSCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ots",
        abstract: "OTS, the Open Test Solution: run test packages on devices across a farm, and watch it all.",
        version: OTSVersion.current,
        subcommands: [
            UpCommand.self, DemoCommand.self, ServerCommand.self, WorkerCommand.self, MonitorCommand.self, SubmitCommand.self,
            StatusCommand.self, ListCommand.self,
            CancelCommand.self,
            ResultsCommand.self, EventsCommand.self, WorkersCommand.self, DeviceHealthCommand.self, StatsCommand.self, ErrorsCommand.self,
            HistoryCommand.self, FlakyCommand.self, RunCommand.self,
            ValidateCommand.self, MigrateCommand.self, TokenCommand.self,
            BenchCommand.self,
        ]
    )

    /// Runs the command; usage errors exit 1 (testrunner-lite's "invalid
    /// arguments"), not ArgumentParser's 64.
    static func main() async {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            let level = ProcessInfo.processInfo.environment["OTS_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:))
            handler.logLevel = level ?? .info
            return LineSafeLogHandler(base: handler)
        }
        do {
            var command = try parseAsRoot(RunCommand.withResumeValue(Array(CommandLine.arguments.dropFirst())))
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            if exitCode(for: error) == .validationFailure {
                printError(fullMessage(for: error))
                Foundation.exit(ExitStatus.invalidArguments)
            }
            exit(withError: error)
        }
    }
}
