import ArgumentParser

struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure OTS: each benchmark prints medians and writes nothing but its report.",
        subcommands: [
            BenchRunCommand.self, BenchQueueCommand.self, BenchDispatchCommand.self, BenchStatsCommand.self, BenchIngestCommand.self,
            BenchLoadCommand.self, BenchIdleCommand.self, BenchResultsCommand.self,
            BenchScheduleCommand.self,
        ]
    )
}
