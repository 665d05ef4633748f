import ArgumentParser
import Foundation
import OTSClient
import OTSCore

/// `ots events`: what happened, from the monitor's event store.
struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events", abstract: "Show stored events, oldest first; --follow keeps printing new ones.")

    @OptionGroup var options: MonitorOptions
    @Option(help: "Only this testrun's events.") var testrun: String?
    @Option(help: "Only this worker instance's events (host/instance).") var worker: String?
    @Option(help: "Only events of this type (like device.flash.finished).") var type: String?
    @Option(help: "At most this many (1 to 10000).") var limit = 1000
    @Flag(help: "Keep following new events until interrupted.") var follow = false
    @Flag(help: "One JSON object per line.") var json = false

    func run() async throws {
        let client: OTSClient
        do {
            client = try options.client
        } catch {
            throw fail("events", error)
        }
        var since: Date?
        var seen: Set<String> = []
        repeat {
            let events: [MonitorEvent]
            do {
                events = try await client.events(testrun: testrun, worker: worker, type: type, since: since, limit: limit)
            } catch {
                throw fail("events", error)
            }
            for event in events where seen.insert(event.id).inserted {
                if json {
                    print(try JSONCoding.string(event))
                } else {
                    print(Self.line(event))
                }
            }
            if let last = events.map({ $0.receivedAt ?? $0.emittedAt }).max() {
                // Events come in commit order, which can differ from their
                // times by a little: look back a few seconds, and skip
                // what was printed already.
                since = last.addingTimeInterval(-5)
            }
            if follow { try await Task.sleep(for: .milliseconds(500)) }
        } while follow
    }

    static func line(_ event: MonitorEvent) -> String {
        var parts = [
            (event.receivedAt ?? event.emittedAt).formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)),
            event.type.rawValue, event.sender.workerID,
        ]
        if let testrun = event.testrunID { parts.append("testrun \(testrun.prefix(8))") }
        if let package = event.package { parts.append(package) }
        if let set = event.set { parts.append("set \(set)") }
        if let testCase = event.testCase { parts.append("case \(testCase)") }
        if let number = event.tryNumber { parts.append("try \(number)") }
        if let outcome = event.outcome { parts.append(outcome) }
        if let verdict = event.verdict { parts.append(verdict) }
        if let duration = event.durationMs { parts.append("\(duration) ms") }
        if let error = event.error { parts.append("[\(error.category)] \(error.message)") }
        for (key, value) in (event.details ?? [:]).sorted(by: { $0.key < $1.key }) { parts.append("\(key)=\(value)") }
        return parts.joined(separator: "  ")
    }
}

/// `ots workers`: every worker instance and its liveness.
struct WorkersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "workers", abstract: "List worker instances and their state.")

    @OptionGroup var options: MonitorOptions
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let list: WorkerList
        do {
            list = try await options.client.workers()
        } catch {
            throw fail("workers", error)
        }
        if json { return try printJSON(list) }
        if list.workers.isEmpty { printError("no workers") }
        for worker in list.workers {
            let device = worker.device.requestedRoutingKey
            let task = worker.currentTask.map { "  task \($0)" } ?? ""
            print(
                "\(worker.id)  \(worker.state)  \(device)  pid \(worker.pid.map(String.init) ?? "?")  v\(worker.version)  last heartbeat \(worker.lastHeartbeat.formatted(.iso8601))\(task)"
            )
        }
    }
}
