import ArgumentParser
import Foundation
import OTSClient
import OTSCore

/// `ots status ID`: one testrun, its tasks and verdict.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show a testrun: its state, verdict and tasks.")

    @OptionGroup var options: ClientOptions
    @Argument(help: "The testrun's id.") var id: String
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let view: TestrunView
        do {
            view = try await options.client.testrun(id: id)
        } catch {
            throw fail("status", error)
        }
        if json { return try printJSON(view) }
        print(view.summaryLine)
        if let requestID = view.request.requestID {
            print("  build request \(requestID)" + (view.request.swProduct.map { " of \($0)" } ?? ""))
        }
        if let plan = view.plan {
            var line = "  plan: \(plan.model), \(plan.tasks) tasks"
            if let makespan = plan.estimatedMakespanSeconds { line += ", estimated \(Int(makespan.rounded())) s" }
            if let cost = plan.taskCostSeconds { line += " with \(Int(cost.rounded())) s a task" }
            if let workers = plan.workersAvailable { line += ", \(workers) workers available" }
            if plan.degraded == true { line += " (degraded)" }
            print(line)
            // What made it degraded is among its notes; those of a request
            // of the original OTS say which of its options were ignored.
            if plan.degraded == true || view.request.verdictRules == .original {
                plan.notes.dropFirst(plan.degraded == true ? 1 : 0).forEach { print("    \($0)") }
            }
        }
        for task in view.tasks ?? [] {
            var line = "  task \(task.sequence + 1) \(task.id)  \(task.state)"
            if let phase = task.phase { line += " (\(phase))" }
            if let verdict = task.verdict { line += " \(verdict.rawValue)" }
            line += "  " + (task.work.map(Self.describe) ?? task.packages.joined(separator: ", "))
            if let worker = task.worker { line += "  on \(worker)" }
            if task.attempts > 1 { line += "  attempts \(task.attempts)" }
            if task.flashTries > 1 || task.bootTries > 1 { line += "  flash tries \(task.flashTries), boot tries \(task.bootTries)" }
            if let error = task.error { line += "  [\(error.category)] \(error.message)" }
            print(line)
        }
    }
}

extension StatusCommand {
    /// A task's packages, with the sets it runs of those it runs in part.
    static func describe(_ work: TaskWork) -> String {
        work.packages.map { package in
            if let sets = package.sets { return "\(package.name) [\(sets.joined(separator: ", "))]" }
            if let skipped = package.skipSets, !skipped.isEmpty { return "\(package.name) [all but \(skipped.joined(separator: ", "))]" }
            return package.name
        }.joined(separator: ", ")
    }
}

/// `ots list`: recent testruns.
struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List testruns, newest first.")

    @OptionGroup var options: ClientOptions
    @Option(help: "Only those in this state: queued, running, finished or cancelled.") var state: String?
    @Option(help: "Only those for this device group.") var devicegroup: String?
    @Option(help: "Only those of this requestor.") var requestor: String?
    @Option(help: "At most this many (1 to 1000).") var limit = 50
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        if let state, TestrunState(rawValue: state) == nil {
            throw ValidationError("--state: must be queued, running, finished or cancelled, not '\(state.prefix(100))'")
        }
    }

    func run() async throws {
        let list: TestrunList
        do {
            list = try await options.client.testruns(
                state: state.flatMap(TestrunState.init(rawValue:)), deviceGroup: devicegroup, requestor: requestor, limit: limit)
        } catch {
            throw fail("list", error)
        }
        if json { return try printJSON(list) }
        if list.testruns.isEmpty { printError("no testruns") }
        list.testruns.forEach { print($0.summaryLine) }
    }
}

/// `ots cancel ID`.
struct CancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel", abstract: "Cancel a testrun; its workers stop their tasks at their next heartbeat.")

    @OptionGroup var options: ClientOptions
    @Argument(help: "The testrun's id.") var id: String

    func run() async throws {
        do {
            print(try await options.client.cancel(id: id).summaryLine)
        } catch {
            throw fail("cancel", error)
        }
    }
}

/// `ots results ID`: the merged results of every task.
struct ResultsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "results", abstract: "Get a testrun's results, all tasks merged: testdefinition-results XML or JUnit.")

    @OptionGroup var options: ClientOptions
    @Argument(help: "The testrun's id.") var id: String
    @Option(help: "xml (testdefinition-results) or junit.") var format = "xml"
    @Option(name: .shortAndLong, help: "Write to this file instead of standard output.") var output: String?
    @Flag(help: "Print the failing cases instead: each one's failing step, its output and its likely cause (from the monitor).")
    var failed = false
    @Option(help: "With --failed: the OTS monitor's URL (environment: OTS_MONITOR; default http://127.0.0.1:8311).")
    var monitor: String?
    @Flag(help: "With --failed: print JSON.") var json = false

    func run() async throws {
        if failed {
            let client = try options.credentials.client(baseURL: monitor ?? environment("OTS_MONITOR") ?? "http://127.0.0.1:8311")
            return try await FailedCases.print(testrun: id, client: client, json: json)
        }
        guard ["xml", "junit"].contains(format) else { throw ValidationError("--format must be xml or junit") }
        let data: Data
        do {
            data = try await options.client.results(id: id, format: format)
        } catch {
            throw fail("results", error)
        }
        if let output {
            do {
                try data.write(to: URL(fileURLWithPath: output), options: .atomic)
            } catch {
                printError("ots results: cannot write \(output): \(error.localizedDescription)")
                throw ExitCode(FarmExit.unusable)
            }
        } else {
            FileHandle.standardOutput.write(data)
        }
    }
}
