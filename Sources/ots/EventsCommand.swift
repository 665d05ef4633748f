import ArgumentParser
import Foundation
import OTSClient
import OTSCore
import Synchronization

/// `ots events`: what happened, from the monitor's event store.
struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Show stored events, oldest first; --follow prints every one and then new ones live, from the monitor's stream.")

    @OptionGroup var options: MonitorOptions
    @Option(help: "Only this testrun's events.") var testrun: String?
    @Option(help: "Only this worker instance's events (host/instance).") var worker: String?
    @Option(help: "Only events of this type (like device.flash.finished).") var type: String?
    @Option(help: "At most this many (1 to 10000; without --follow).") var limit = 1000
    @Flag(help: "Print every stored event, then new ones live until interrupted (the monitor's event stream).") var follow = false
    @Flag(help: "One JSON object per line.") var json = false

    func run() async throws {
        let client: OTSClient
        do {
            client = try options.client
        } catch {
            throw fail("events", error)
        }
        if follow { return try await followStream(client) }
        let events: [MonitorEvent]
        do {
            events = try await client.events(testrun: testrun, worker: worker, type: type, limit: limit)
        } catch {
            throw fail("events", error)
        }
        for event in events { print(json ? try JSONCoding.string(event) : Self.line(event)) }
    }

    /// Every stored event, then each new one as the monitor stores it,
    /// from its live stream; a dropped connection is resumed where it
    /// stopped (said once on stderr until events come again).
    private func followStream(_ client: OTSClient) async throws {
        let json = json
        let drops = DropReport()
        do {
            try await client.followEvents(
                testrun: testrun, worker: worker, type: type,
                dropped: { error in drops.dropped("ots events: \(error.message); resuming") },
                receive: { event in
                    drops.received()
                    try Self.printEvent(event, json: json)
                })
        } catch let error as ClientError {
            throw fail("events", error)
        }
    }

    /// A line written at once: a reader waits for it.
    private static func printEvent(_ event: MonitorEvent, json: Bool) throws {
        printLine(json ? try JSONCoding.string(event) : line(event))
    }

    /// Tells of a dropped stream once, until events come again.
    private final class DropReport: Sendable {
        private let reported = Mutex(false)

        func dropped(_ message: String) {
            if !reported.withLock({ was in
                defer { was = true }; return was
            }) {
                printError(message)
            }
        }

        func received() { reported.withLock { $0 = false } }
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
