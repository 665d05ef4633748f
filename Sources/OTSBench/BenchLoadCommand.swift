import ArgumentParser
import Foundation
import Logging
import OTSClient
import OTSCore
import OTSHTTP
import OTSStore

/// `ots bench load`: many simulated worker instances and thousands of tasks
/// through one server and one monitor, each its own process, then checks
/// that nothing was lost, doubled or run twice.
struct BenchLoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Load the farm: many simulated workers and thousands of tasks through one server and one monitor.",
        discussion: """
            Starts `ots server`, `ots monitor` and worker processes (the instances spread over them) on loopback, \
            submits the testruns from several clients at once (each package a task), waits for every verdict and for \
            the monitor to store every event, then checks: every testrun PASS, every task run once, and every event of \
            every task and testrun stored exactly once. Reports throughput, queue waits and each process's peak memory. \
            By default the store is a new SQLite file; --database names another (an empty one).
            """
    )

    @Option(help: "The database: sqlite:///path or postgres://user:password@host:port/database (default: a new SQLite file).")
    var database: String?

    @Option(help: "Simulated worker instances in all.")
    var instances = 200

    @Option(help: "Worker processes the instances are spread over.")
    var workerProcesses = 4

    @Option(help: "Tasks in all (testruns × packages per testrun).")
    var tasks = 2000

    @Option(help: "Packages (so tasks) per testrun.")
    var packagesPerTestrun = 10

    @Option(help: "Clients submitting at once.")
    var submitters = 8

    @Option(help: "Dashboards open beside the load, each fetching the overview page every two seconds.")
    var dashboards = 0

    @Option(help: "Clients following the monitor's live event stream beside the load.")
    var streams = 0

    @Option(help: "Longest the whole load may take, in seconds, before it counts as failed.")
    var timeout = 900

    @Flag(help: "Print the report as JSON.")
    var json = false

    func validate() throws {
        guard instances > 0, workerProcesses > 0, workerProcesses <= instances else {
            throw ValidationError("--instances and --worker-processes must be positive, with no more processes than instances")
        }
        guard packagesPerTestrun > 0, tasks >= packagesPerTestrun, tasks % packagesPerTestrun == 0 else {
            throw ValidationError("--tasks must be a positive multiple of --packages-per-testrun")
        }
        guard submitters > 0, timeout > 0 else { throw ValidationError("--submitters and --timeout must be positive") }
        guard (0...200).contains(dashboards), (0...200).contains(streams) else {
            throw ValidationError("--dashboards and --streams must be from 0 to 200")
        }
    }

    func run() async throws {
        let folder = FileManager.default.temporaryDirectory.path + "/ots-bench-load-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let packages = (0..<packagesPerTestrun).map { "load-\($0)" }
        for package in packages {
            try FileManager.default.createDirectory(atPath: folder + "/packages/" + package, withIntermediateDirectories: true)
            try """
            <?xml version="1.0" encoding="UTF-8"?>
            <testdefinition version="1.0">
              <suite name="\(package)"><set name="set"><case name="true"><step>true</step></case></set></suite>
            </testdefinition>
            """.write(toFile: folder + "/packages/\(package)/tests.xml", atomically: true, encoding: .utf8)
        }
        let url = try database.map(parseDatabaseURL) ?? .sqlite(path: folder + "/ots.sqlite")
        let binary = ownExecutable

        // As deployed: workers enroll with a secret, clients send a token.
        let secret = ["OTS_ENROLLMENT_SECRET": APIToken.randomSecret()]
        let token = try await Self.adminToken(url)

        printError("starting a server, a monitor and \(workerProcesses) worker processes with \(instances) instances on \(url)")
        let server = try LoadProcess.start(
            binary, ["server", "--database", url.description, "--port", "0"], environment: secret, logs: folder + "/server")
        var processes = [server]
        defer { processes.forEach { $0.stop() } }
        let serverURL = try await server.listeningURL()
        let monitor = try LoadProcess.start(binary, ["monitor", "--database", url.description, "--port", "0"], logs: folder + "/monitor")
        processes.append(monitor)
        let monitorURL = try await monitor.listeningURL()
        var workers: [LoadProcess] = []
        for index in 0..<workerProcesses {
            let count = instances / workerProcesses + (index < instances % workerProcesses ? 1 : 0)
            let config = folder + "/worker-\(index).toml"
            try workerConfiguration(server: serverURL, index: index, instances: count, folder: folder)
                .write(toFile: config, atomically: true, encoding: .utf8)
            let worker = try LoadProcess.start(
                binary, ["worker", "--config", config], environment: secret, logs: folder + "/worker-\(index)")
            workers.append(worker)
            processes.append(worker)
        }
        let client = OTSClient(baseURL: serverURL, token: token)
        let monitorClient = OTSClient(baseURL: monitorURL, token: token)
        try await waitForWorkers(monitorClient, count: instances)

        let testruns = tasks / packagesPerTestrun
        var request = TestrunRequest(device: DeviceProperties(devicegroup: "load"), packages: .init(device: packages))
        request.distributionModel = "perpackage"
        request.detailLevel = .package
        printError("submitting \(testruns) testruns of \(packagesPerTestrun) packages (\(tasks) tasks) from \(submitters) clients")
        if dashboards + streams > 0 {
            printError("beside it: \(dashboards) dashboards and \(streams) event stream clients on the monitor")
        }
        let clock = ContinuousClock()
        let readers = LoadReaders(dashboards: dashboards, streams: streams, monitorURL: monitorURL, token: token)
        let started = clock.now
        // The readers run beside the load, until it ends.
        let (ids, verdicts, elapsed, drained, read) = try await withThrowingTaskGroup(of: LoadReaders.Report.self) { group in
            group.addTask { await readers.run() }
            let ids = try await submit(request, count: testruns, client: client)
            let verdicts = try await waitForVerdicts(ids, client: client, started: started)
            let elapsed = clock.now - started
            try await waitForMonitor(monitorClient)
            let drained = clock.now - started
            group.cancelAll()
            let read = try await group.next() ?? LoadReaders.Report()
            return (ids, verdicts, elapsed, drained, read)
        }

        let memory =
            [("server", server), ("monitor", monitor)].map { ($0.0, $0.1.peakKilobytes()) }
            + [("workers (each)", workers.map { $0.peakKilobytes() }.max() ?? 0)]
        var logger = Logger(label: "ots.bench")
        logger.logLevel = .warning
        let store = try await Store.open(url, logger: logger)
        var check: LoadCheck
        do {
            check = try await LoadCheck.run(store: store, testruns: ids, tasks: tasks, verdicts: verdicts)
        } catch {
            await store.close()
            throw error
        }
        await store.close()
        let errorLines = processes.flatMap { $0.errorLines() }
        check.problems += read.pageFailures.prefix(5).map { "dashboard: \($0)" } + read.streamFailures.prefix(5).map { "stream: \($0)" }
        report(
            engine: store.dialect.rawValue, elapsed: elapsed, drained: drained, check: check, read: read, memory: memory,
            errorLines: errorLines)
        guard check.problems.isEmpty && errorLines.isEmpty else { throw ExitCode(1) }
    }

    /// A new admin token in the database (migrated first, as the server
    /// would).
    static func adminToken(_ url: DatabaseURL) async throws -> String {
        var logger = Logger(label: "ots.bench")
        logger.logLevel = .warning
        let store = try await Store.open(url, logger: logger)
        do {
            let token = try await store.createToken(name: "ots bench load", scope: .admin).token
            await store.close()
            return token
        } catch {
            await store.close()
            throw error
        }
    }

    private func workerConfiguration(server: String, index: Int, instances count: Int, folder: String) -> String {
        var text = """
            server = "\(server)"
            host = "load-\(index)"
            spool_dir = "\(folder)/spool-\(index)"
            work_dir = "\(folder)/work-\(index)"

            """
        for number in 0..<count {
            text += """

                [[instance]]
                name = "sim-\(number)"
                devicegroup = "load"
                adapter = "simulated"
                packages_dir = "\(folder)/packages"

                """
        }
        return text
    }

    private func waitForWorkers(_ monitor: OTSClient, count: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            if let list = try? await monitor.workers(), list.workers.filter({ $0.state != "offline" }).count >= count { return }
            try await Task.sleep(for: .milliseconds(250))
        }
        throw ValidationError("the \(count) worker instances did not all come online within two minutes")
    }

    private func submit(_ request: TestrunRequest, count: Int, client: OTSClient) async throws -> [String] {
        let next = Counter()
        return try await withThrowingTaskGroup(of: [String].self) { group in
            for _ in 0..<submitters {
                group.addTask {
                    var ids: [String] = []
                    while let _ = await next.take(below: count) {
                        ids.append(try await client.submit(request).id)
                    }
                    return ids
                }
            }
            var all: [String] = []
            for try await ids in group { all += ids }
            return all
        }
    }

    private func waitForVerdicts(_ ids: [String], client: OTSClient, started: ContinuousClock.Instant) async throws -> [String: String] {
        var verdicts: [String: String] = [:]
        let deadline = started + .seconds(timeout)
        var reported = 0
        while verdicts.count < ids.count {
            guard ContinuousClock.now < deadline else {
                throw ValidationError("only \(verdicts.count) of \(ids.count) testruns ended within \(timeout) s")
            }
            let list = try await client.testruns(state: .finished, limit: 1000)
            let failed = try await client.testruns(state: .cancelled, limit: 1000)
            for view in list.testruns + failed.testruns where verdicts[view.id] == nil {
                verdicts[view.id] = view.verdict?.rawValue ?? view.state.rawValue
            }
            if verdicts.count / 20 > reported / 20 {
                reported = verdicts.count
                printError("… \(verdicts.count) of \(ids.count) testruns ended")
            }
            if verdicts.count < ids.count { try await Task.sleep(for: .milliseconds(500)) }
        }
        return verdicts
    }

    private func waitForMonitor(_ monitor: OTSClient) async throws {
        let deadline = ContinuousClock.now + .seconds(300)
        while ContinuousClock.now < deadline {
            if let status = try? await monitor.monitorStatus(), status.backlogEvents == 0 { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw ValidationError("the monitor did not catch up within five minutes")
    }

    private func report(
        engine: String, elapsed: Duration, drained: Duration, check: LoadCheck, read: LoadReaders.Report, memory: [(String, Int)],
        errorLines: [String]
    ) {
        let pageMedian = LoadCheck.percentile(read.pageSeconds, 0.5)
        let pageP99 = LoadCheck.percentile(read.pageSeconds, 0.99)
        let seconds = elapsed / .seconds(1)
        let drainedSeconds = drained / .seconds(1)
        if json {
            let memoryJSON = memory.map { #""\#($0.0)":\#($0.1)"# }.joined(separator: ",")
            print(
                #"{"engine":"\#(engine)","instances":\#(instances),"tasks":\#(tasks),"seconds":\#(String(format: "%.1f", seconds)),"tasks_per_second":\#(String(format: "%.1f", Double(tasks) / seconds)),"queue_wait_median_s":\#(String(format: "%.3f", check.queueWaitMedian)),"queue_wait_p99_s":\#(String(format: "%.3f", check.queueWaitP99)),"claim_to_start_median_s":\#(String(format: "%.3f", check.startMedian)),"events":\#(check.events),"monitor_done_seconds":\#(String(format: "%.1f", drainedSeconds)),"dashboards":\#(dashboards),"dashboard_pages":\#(read.pageSeconds.count),"dashboard_page_median_s":\#(String(format: "%.3f", pageMedian)),"dashboard_page_p99_s":\#(String(format: "%.3f", pageP99)),"streams":\#(streams),"streamed_events":\#(read.streamedEvents),"peak_rss_kb":{\#(memoryJSON)},"problems":\#(check.problems.count + errorLines.count)}"#
            )
            return
        }
        print("load on \(engine): \(instances) simulated instances in \(workerProcesses) processes, \(tasks) tasks")
        print(String(format: "  every verdict in  %8.1f s   (%.1f tasks/s)", seconds, Double(tasks) / seconds))
        print(String(format: "  monitor caught up %8.1f s   (%d events stored)", drainedSeconds, check.events))
        print(String(format: "  queue wait        median %.3f s, p99 %.3f s", check.queueWaitMedian, check.queueWaitP99))
        print(String(format: "  claim → started   median %.3f s, p99 %.3f s", check.startMedian, check.startP99))
        if dashboards > 0 {
            print(
                String(
                    format: "  dashboard pages   median %.3f s, p99 %.3f s   (%d pages, %d dashboards)", pageMedian, pageP99,
                    read.pageSeconds.count, dashboards))
        }
        if streams > 0 {
            print("  event streams     \(read.streamedEvents) events to \(streams) clients")
        }
        for (name, kilobytes) in memory {
            print(
                "  peak memory " + name.padding(toLength: 16, withPad: " ", startingAt: 0)
                    + String(format: "%6.1f MiB", Double(kilobytes) / 1024))
        }
        if check.problems.isEmpty && errorLines.isEmpty {
            print("  checks: every testrun PASS, every task run once, every event stored once")
        }
        for problem in check.problems { print("  PROBLEM: \(problem)") }
        for line in errorLines.prefix(20) { print("  LOGGED: \(line)") }
    }
}

/// What the store says after the load: verdicts, tasks run once, events
/// stored once, and the queue waits.
struct LoadCheck {
    var problems: [String] = []
    var events = 0
    var queueWaitMedian = 0.0
    var queueWaitP99 = 0.0
    var startMedian = 0.0
    var startP99 = 0.0

    static func run(store: Store, testruns ids: [String], tasks: Int, verdicts: [String: String]) async throws -> LoadCheck {
        var check = LoadCheck()
        let notPassed = verdicts.filter { $0.value != "PASS" }
        if !notPassed.isEmpty {
            let examples = notPassed.sorted { $0.key < $1.key }.prefix(3).map { "\($0.key) \($0.value)" }
            check.problems.append("\(notPassed.count) testruns did not PASS, for example \(examples.joined(separator: ", "))")
        }
        if Set(ids).count != ids.count { check.problems.append("a testrun id was given twice") }
        let audit = try await store.read { tx in try await tx.loadAudit() }
        if audit.tasks != tasks { check.problems.append("\(audit.tasks) tasks in the store, \(tasks) expected") }
        if audit.claimedMoreThanOnce > 0 { check.problems.append("\(audit.claimedMoreThanOnce) tasks were claimed more than once") }
        check.queueWaitMedian = percentile(audit.queueWaits, 0.5)
        check.queueWaitP99 = percentile(audit.queueWaits, 0.99)
        check.startMedian = percentile(audit.claimToStart, 0.5)
        check.startP99 = percentile(audit.claimToStart, 0.99)
        // Every task's and testrun's events, each exactly once.
        let perTask = [
            "task.queued", "task.claimed", "task.started", "device.flash.started", "device.flash.finished",
            "device.boot.started", "device.boot.finished", "test.package.started", "test.package.finished",
            "results.processing.started", "results.processing.finished", "task.finished",
        ]
        let perTestrun = ["testrun.requested", "testrun.queued", "testrun.started", "testrun.finished"]
        for (types, expected, subject) in [(perTask, tasks, "tasks"), (perTestrun, ids.count, "testruns")] {
            for type in types {
                let count = audit.events[type]
                if count?.events != expected || count?.subjects != expected {
                    check.problems.append(
                        "\(type): \(count?.events ?? 0) events for \(count?.subjects ?? 0) \(subject), \(expected) expected once each")
                }
            }
        }
        check.events = audit.events.values.reduce(0) { $0 + $1.events }
        if let failures = audit.events["failure"]?.events, failures > 0 { check.problems.append("\(failures) failure events") }
        return check
    }

    static func percentile(_ values: [Double], _ p: Double) -> Double {
        Percentiles(values).percentile(p) ?? 0
    }
}

/// Hands out numbers below a limit, once each.
actor Counter {
    private var next = 0

    func take(below limit: Int) -> Int? {
        guard next < limit else { return nil }
        defer { next += 1 }
        return next
    }
}

/// A component process of the load, with its output in files.
final class LoadProcess: @unchecked Sendable {
    // Process is not Sendable; only the benchmark's task starts and stops it.
    let process = Process()
    let logs: String

    static func start(_ binary: String, _ arguments: [String], environment extra: [String: String] = [:], logs: String) throws
        -> LoadProcess
    {
        let child = LoadProcess(logs: logs)
        FileManager.default.createFile(atPath: logs + ".out", contents: nil)
        FileManager.default.createFile(atPath: logs + ".err", contents: nil)
        child.process.executableURL = URL(fileURLWithPath: binary)
        child.process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["OTS_LOG_LEVEL"] = environment["OTS_LOG_LEVEL"] ?? "warning"
        child.process.environment = environment.merging(extra) { $1 }
        child.process.standardOutput = FileHandle(forWritingAtPath: logs + ".out")
        child.process.standardError = FileHandle(forWritingAtPath: logs + ".err")
        try child.process.run()
        return child
    }

    private init(logs: String) {
        self.logs = logs
    }

    /// The URL it prints once it listens.
    func listeningURL() async throws -> String {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let text = (try? String(contentsOfFile: logs + ".out", encoding: .utf8)) ?? ""
            if let range = text.range(of: #"listening on http://[0-9.]+:\d+"#, options: .regularExpression) {
                return String(text[range].dropFirst("listening on ".count))
            }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let errors = (try? String(contentsOfFile: logs + ".err", encoding: .utf8)) ?? ""
        throw ValidationError("\(process.arguments?.first ?? "a component") did not start: \(errors.suffix(1000))")
    }

    /// The peak resident memory so far, from /proc (KiB).
    func peakKilobytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
        else { return 0 }
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    /// Lines it logged at error level or worse.
    func errorLines() -> [String] {
        let text = (try? String(contentsOfFile: logs + ".err", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").filter { $0.contains(" error ") || $0.contains(" critical ") }.map(String.init)
    }

    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(15)
        while process.isRunning && Date() < deadline { usleep(50_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}
