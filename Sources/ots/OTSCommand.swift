import ArgumentParser
import OTSCore

@main
struct OTSCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ots",
        abstract: "OTS, the Open Test Solution: run test packages on devices across a farm, and watch it all.",
        version: OTSVersion.current,
        subcommands: [RunCommand.self, ValidateCommand.self, BenchCommand.self]
    )
}
