import ArgumentParser

/// `ots bench`: the benchmarks, each a subcommand. They live apart from the
/// production modules, as Hummingbird and PostgresNIO keep theirs.
public struct BenchCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure OTS: each benchmark prints medians and writes nothing but its report.",
        subcommands: [
            BenchRunCommand.self, BenchQueueCommand.self, BenchDispatchCommand.self, BenchStatsCommand.self, BenchIngestCommand.self,
            BenchLoadCommand.self, BenchIdleCommand.self, BenchResultsCommand.self,
            BenchScheduleCommand.self,
        ]
    )

    public init() {}
}
