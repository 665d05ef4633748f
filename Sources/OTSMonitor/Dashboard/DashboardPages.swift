import Foundation
import OTSCore
import OTSStore

/// What the dashboard's templates render: plain values, worked out here
/// from the store, so the templates stay logic-less.
struct DashboardPages {
    let store: Store
    let consumer: String
    var cases = CaseAnalysis(configuration: MonitorConfiguration())
    /// Where the server is, for links to results and fetched files.
    var serverURL: String?

    // MARK: shared rows

    struct Choice {
        var value: String
        var label: String
        var selected: Bool
    }

    struct TestrunRow {
        var id: String
        var link: String
        var state: String
        var verdict: String?
        var badge: String
        var deviceGroup: String
        var requestor: String
        var packagesDone: Int
        var packagesTotal: Int
        var tasksDone: Int
        var tasksTotal: Int
        var created: String
        var error: String?
    }

    struct WorkerRow {
        var id: String
        var host: String
        var hostLink: String
        var instance: String
        var state: String
        var device: String
        var currentTask: String?
        var currentTestrunLink: String?
        var lastHeartbeat: String
        var version: String
        var pid: String
        /// The health the monitor last heard of.
        var health: String
        var healthReason: String
    }

    /// Testruns as one table; nil (and so not drawn) when there are none.
    struct TestrunTable {
        var caption: String
        var rows: [TestrunRow]

        static func of(_ rows: [TestrunRow], caption: String) -> TestrunTable? {
            rows.isEmpty ? nil : TestrunTable(caption: caption, rows: rows)
        }
    }

    struct ErrorRow {
        var link: String
        var example: String
        var count: Int
        var category: String
        var owner: String
        var lastSeen: String
        var where_: String
    }

    static let windows: [(String, String)] = [
        ("1h", "last hour"), ("24h", "last 24 hours"), ("7d", "last 7 days"), ("30d", "last 30 days"),
    ]

    static func testrunLink(_ id: String) -> String { "/testruns/" + DashboardFormat.pathSegment(id) }
    static func hostLink(_ host: String) -> String { "/workers/" + DashboardFormat.pathSegment(host) }
    static func errorLink(_ signature: String) -> String { "/errors/" + DashboardFormat.pathSegment(signature) }

    static func badge(state: String, verdict: String?) -> String {
        switch verdict {
        case "PASS": "pass"
        case "FAIL": "fail"
        case "ERROR": "error"
        default: state
        }
    }

    func testrunRows(_ records: [TestrunRecord], tasks: [String: [TaskRecord]]) -> [TestrunRow] {
        records.compactMap { record in
            // The testrun as the server's API shows it.
            guard let view = try? TestrunView(record, tasks: tasks[record.id] ?? [], withTasks: false) else { return nil }
            return TestrunRow(
                id: view.id, link: Self.testrunLink(view.id), state: view.state.rawValue, verdict: view.verdict?.rawValue,
                badge: Self.badge(state: view.state.rawValue, verdict: view.verdict?.rawValue), deviceGroup: record.deviceGroup,
                requestor: view.request.requestor ?? "-", packagesDone: view.progress.packagesDone,
                packagesTotal: view.progress.packagesTotal, tasksDone: view.progress.tasksDone, tasksTotal: view.progress.tasksTotal,
                created: DashboardFormat.time(view.createdAt), error: view.error.map { "[\($0.category)] \($0.message)" })
        }
    }

    func workerRows(_ workers: [WorkerRecord], tasks: [TaskRecord], health: [String: MonitorEvent], now: Date) -> [WorkerRow] {
        let testrunOfTask = Dictionary(tasks.map { ($0.id, $0.testrunID) }, uniquingKeysWith: { first, _ in first })
        return workers.map { worker in
            WorkerRow(
                id: worker.id, host: worker.host, hostLink: Self.hostLink(worker.host), instance: worker.instanceName,
                state: worker.state,
                device: DeviceProperties(devicegroup: worker.deviceGroup, devicename: worker.deviceName, deviceid: worker.deviceID)
                    .requestedRoutingKey,
                currentTask: worker.currentTask, currentTestrunLink: worker.currentTask.flatMap { testrunOfTask[$0] }.map(Self.testrunLink),
                lastHeartbeat: DashboardFormat.ago(worker.lastHeartbeat, now: now), version: worker.version,
                pid: worker.pid.map(String.init) ?? "-", health: Self.health(health[worker.id]).health.rawValue,
                healthReason: Self.health(health[worker.id]).reason)
        }
    }

    func errorRows(_ errors: [Statistics.CommonError]) -> [ErrorRow] {
        errors.map {
            ErrorRow(
                link: Self.errorLink($0.signature), example: String($0.example.prefix(160)), count: $0.count,
                category: $0.category?.rawValue ?? "-", owner: DashboardFormat.owner($0.category),
                lastSeen: DashboardFormat.time($0.lastSeen),
                where_: ($0.workers + $0.deviceGroups.map { "group " + $0 }).joined(separator: ", "))
        }
    }

    // MARK: overview

    struct Overview {
        var title = "Farm overview"
        var stream = "/api/v1/events/stream"
        var windows: [Choice]
        var groups: [Choice]
        var groupName: String?
        var windowLabel: String
        var generated: String
        var running: TestrunTable?
        var queued: TestrunTable?
        var recent: TestrunTable?
        var nothingActive: Bool
        var activeCount: Int
        var queuedCount: Int
        var workers: [WorkerRow]
        var hasWorkers: Bool
        var workersOnline: Int
        var workersBusy: Int
        var workersOffline: Int
        var verdicts: Statistics.Verdicts
        var passPercent: String
        var failPercent: String
        var errorPercent: String
        var verdictChart: String
        var phaseChart: String
        var phases: [PhaseRow]
        var retries: [RetryRow]
        var errors: [ErrorRow]
        var hasErrors: Bool
        var categories: [CategoryRow]
        var lag: String
        var backlog: Int
        var dropped: Int
        var lagging: Bool
        /// Failures by likely cause.
        var causes: [CauseCount] = []
    }

    struct PhaseRow {
        var name: String
        var count: Int
        var median: String
        var p95: String
    }

    struct RetryRow {
        var phase: String
        var phases: Int
        var retries: Int
        var rate: String
    }

    struct CategoryRow {
        var category: String
        var count: Int
        var owner: String
    }

    static let phaseNames = [("queue_wait", "queue wait"), ("flash", "flash"), ("boot", "boot"), ("test", "test")]

    func overview(window: String, deviceGroup: String?, now: Date = Date()) async throws -> Overview {
        let span =
            (try? StatisticsWindow.parse(window: window, since: nil, until: nil, now: now))
            ?? StatisticsWindow(
                since: now.addingTimeInterval(-86_400), until: now)
        let data = try await store.read { tx in
            let stats = try await tx.statistics(since: span.since, until: span.until, deviceGroup: deviceGroup, commonErrors: 10)
            let running = try await tx.testruns(TestrunFilter(state: .running, deviceGroup: deviceGroup, limit: 100))
            let queued = try await tx.testruns(TestrunFilter(state: .queued, deviceGroup: deviceGroup, limit: 100))
            let recent = try await tx.testruns(TestrunFilter(deviceGroup: deviceGroup, limit: 30)).filter {
                $0.state.isEnded
            }.prefix(10)
            let ids = (running + queued + recent).map(\.id)
            let tasks = try await tx.tasks(testrunIDs: ids)
            let workers = try await tx.workers().filter { deviceGroup == nil || $0.deviceGroup == deviceGroup }
            let current = try await tx.tasks(ids: workers.compactMap(\.currentTask))
            let groups = try await tx.deviceGroups()
            let health = try await tx.latestHealthEvents(workers: workers.map(\.id))
            let causes = try await tx.failureCauses(since: stats.since, until: stats.until, deviceGroup: deviceGroup)
            return (stats, running, queued, Array(recent), tasks, workers, current, groups, health, causes)
        }
        let (stats, running, queued, recent, tasks, workers, current, groups, health, causes) = data
        let backlog = try await store.backlog(consumer: consumer)
        let dropped = try await store.counter("dropped")
        let lag = backlog.oldest.map { max(0, now.timeIntervalSince($0)) } ?? 0
        let verdicts = stats.verdicts
        let phaseBars = Self.phaseNames.map { key, name in
            DashboardCharts.PhaseBar(name: name, median: stats.phases[key]?.median, p95: stats.phases[key]?.p95)
        }
        var overview = Overview(
            windows: Self.windows.map { Choice(value: $0.0, label: $0.1, selected: $0.0 == window) },
            groups: [Choice(value: "", label: "all device groups", selected: deviceGroup == nil)]
                + (groups + (deviceGroup.map { [$0] } ?? [])).uniqued().map { Choice(value: $0, label: $0, selected: $0 == deviceGroup) },
            groupName: deviceGroup,
            windowLabel: Self.windows.first { $0.0 == window }?.1 ?? "last \(window)",
            generated: DashboardFormat.time(now),
            running: .of(testrunRows(running, tasks: tasks), caption: "Running"),
            queued: .of(testrunRows(queued, tasks: tasks), caption: "Waiting for a worker"),
            recent: .of(testrunRows(recent, tasks: tasks), caption: "The last testruns to end"),
            nothingActive: running.isEmpty && queued.isEmpty,
            activeCount: running.count, queuedCount: queued.count,
            workers: workerRows(
                workers.sorted { ($0.host, $0.instanceName) < ($1.host, $1.instanceName) }, tasks: current, health: health, now: now),
            hasWorkers: !workers.isEmpty,
            workersOnline: workers.filter { $0.state != "offline" }.count, workersBusy: workers.filter { $0.state == "busy" }.count,
            workersOffline: workers.filter { $0.state == "offline" }.count,
            verdicts: verdicts, passPercent: DashboardFormat.percent(verdicts.passRatio),
            failPercent: DashboardFormat.percent(verdicts.failRatio), errorPercent: DashboardFormat.percent(verdicts.errorRatio),
            verdictChart: DashboardCharts.verdicts(pass: verdicts.pass, fail: verdicts.fail, error: verdicts.error),
            phaseChart: DashboardCharts.phases(phaseBars),
            phases: Self.phaseNames.map { key, name in
                PhaseRow(
                    name: name, count: stats.phases[key]?.count ?? 0, median: DurationText.seconds(stats.phases[key]?.median),
                    p95: DurationText.seconds(stats.phases[key]?.p95))
            },
            retries: ["flash", "boot"].map { phase in
                let value = stats.retries[phase]
                return RetryRow(
                    phase: phase, phases: value?.phases ?? 0, retries: value?.retries ?? 0, rate: DashboardFormat.percent(value?.rate ?? 0))
            },
            errors: errorRows(stats.commonErrors), hasErrors: !stats.commonErrors.isEmpty,
            categories: ErrorCategory.allCases.map {
                CategoryRow(category: $0.rawValue, count: stats.errorsByCategory[$0.rawValue] ?? 0, owner: DashboardFormat.owner($0))
            },
            lag: DurationText.seconds(lag), backlog: backlog.count, dropped: dropped, lagging: lag > 30)
        overview.causes = Self.causeCounts(causes)
        return overview
    }

    // MARK: testrun

    struct TestrunPage {
        var title: String
        var stream: String
        var testrun: TestrunRow
        var ended: Bool
        var request: RequestSummary
        var timeline: String?
        var tasks: [TaskRow]
        var phases: [TimelineRow]
        var packages: [PackageRow]
        var failures: [FailureRow]
        var started: String
        var finished: String
        var generated: String
        /// Its e-mail to the notify list, when it asked for one.
        var mail: MailRow? = nil
        /// Its packages, sets and cases, as the monitor stored them.
        var results: ResultsTree? = nil
    }

    struct RequestSummary {
        var device: String
        var image: String
        var packages: String
        var model: String
        var swProduct: String
        var requestID: String = "-"
        var notify: String = "-"
    }

    struct MailRow {
        var state: String
        var badge: String
        var recipients: String
        var tries: Int
        var error: String?
    }

    struct TaskRow {
        var number: Int
        var id: String
        var state: String
        var phase: String
        var verdict: String?
        var badge: String
        var worker: String
        var workerLink: String?
        var packages: String
        var attempts: Int
        var flashTries: Int
        var bootTries: Int
        var error: String?
    }

    struct TimelineRow {
        var task: String
        var phase: String
        var detail: String
        var start: String
        var duration: String
        var outcome: String
    }

    struct PackageRow {
        var package: String
        var task: String
        var verdict: String
        var badge: String
        var duration: String
    }

    struct FailureRow {
        var time: String
        var category: String
        var owner: String
        var message: String
        var link: String
        var worker: String
        /// Its likely cause (a failing case, a flash or boot that failed every try).
        var cause: CauseBlock? = nil
    }

    /// Nil when neither the store nor the monitor knows the testrun.
    func testrun(id: String, now: Date = Date()) async throws -> TestrunPage? {
        let data = try await store.read {
            tx -> (TestrunRecord, [TaskRecord], [EventRecord], MailDelivery?, ResultsTree, [String: CauseBlock])? in
            guard let record = try await tx.testrun(id: id) else { return nil }
            let records = try await tx.events(testrunID: id, limit: 100_000)
            let failures = records.filter { $0.type == EventType.failure.rawValue }.compactMap {
                try? JSONCoding.decoder().decode(MonitorEvent.self, from: Data($0.payload.utf8))
            }
            return (
                record, try await tx.tasks(testrunID: id), records, try await tx.mailDelivery(testrunID: id),
                try await self.resultsTree(testrunID: id, tx: tx), try await self.causes(of: failures, tx: tx)
            )
        }
        guard let (record, tasks, records, mail, results, causes) = data else { return nil }
        let events = records.compactMap { try? JSONCoding.decoder().decode(MonitorEvent.self, from: Data($0.payload.utf8)) }
        let request = try? JSONCoding.decoder().decode(TestrunRequest.self, from: Data(record.request.utf8))
        guard let row = testrunRows([record], tasks: [id: tasks]).first else { return nil }
        let timeline = Timeline(testrunID: id, events: events)
        let number = Dictionary(tasks.map { ($0.id, $0.sequence + 1) }, uniquingKeysWith: { first, _ in first })
        let ended = record.state.isEnded
        let until = ended ? (record.finishedAt ?? timeline.phases.compactMap(\.end).max() ?? now) : now
        let rows = tasks.map { task in
            DashboardCharts.Row(
                label: "task \(task.sequence + 1)",
                segments: timeline.phases.filter { $0.task == task.id && $0.phase != "task" }.map { phase in
                    DashboardCharts.Segment(
                        start: phase.start, end: phase.end ?? (ended ? until : nil), kind: phase.phase,
                        label: [phase.phase, phase.detail].compactMap { $0 }.joined(separator: " "),
                        failed: Self.failed(phase.outcome))
                })
        }
        let failures = events.filter { $0.type == .failure }.compactMap { event -> FailureRow? in
            guard let error = event.error else { return nil }
            return FailureRow(
                time: DashboardFormat.time(event.receivedAt ?? event.emittedAt), category: error.category.rawValue,
                owner: DashboardFormat.owner(error.category), message: error.message, link: Self.errorLink(error.signature),
                worker: event.sender.workerID, cause: causes[event.id])
        }
        var page = TestrunPage(
            title: "Testrun \(id)",
            stream: "/api/v1/events/stream?testrun=" + DashboardFormat.pathSegment(id),
            testrun: row, ended: ended,
            request: RequestSummary(
                device: request?.device.requestedRoutingKey ?? record.deviceGroup, image: request?.image ?? "-",
                packages: request.map { PackageRequest.all(in: $0).map(\.name).joined(separator: ", ") } ?? "-",
                model: request?.distributionModel ?? "perpackage", swProduct: request?.swProduct ?? "-",
                requestID: request?.requestID ?? "-", notify: request?.notify?.joined(separator: ", ") ?? "-"),
            timeline: rows.isEmpty ? nil : DashboardCharts.timeline(rows, origin: record.createdAt, until: until),
            tasks: tasks.map(TestrunView.TaskView.init).map { task in
                TaskRow(
                    number: task.sequence + 1, id: task.id, state: task.state.rawValue, phase: task.phase ?? "-",
                    verdict: task.verdict?.rawValue,
                    badge: Self.badge(state: task.state.rawValue, verdict: task.verdict?.rawValue), worker: task.worker ?? "-",
                    workerLink: task.worker.flatMap { $0.split(separator: "/").first }.map { Self.hostLink(String($0)) },
                    packages: task.work?.packages.map { package in
                        package.sets.map { "\(package.name) (\($0.joined(separator: ", ")))" } ?? package.name
                    }.joined(separator: ", ") ?? "-",
                    attempts: task.attempts, flashTries: task.flashTries, bootTries: task.bootTries,
                    error: task.error.map { "[\($0.category)] \($0.message)" })
            },
            phases: timeline.phases.filter { $0.phase != "testrun" && $0.phase != "task" }.map { phase in
                TimelineRow(
                    task: phase.task.flatMap { number[$0] }.map { "task \($0)" } ?? "-", phase: phase.phase, detail: phase.detail ?? "",
                    start: DashboardFormat.time(phase.start), duration: phase.end == nil ? "running" : DurationText.seconds(phase.seconds),
                    outcome: phase.outcome ?? "")
            },
            packages: events.filter { $0.type == .packageFinished }.map { event in
                PackageRow(
                    package: event.package ?? "-", task: event.taskID.flatMap { number[$0] }.map { "task \($0)" } ?? "-",
                    verdict: event.verdict ?? "-", badge: Self.badge(state: "", verdict: event.verdict),
                    duration: DurationText.seconds(event.durationMs.map { Double($0) / 1000 }))
            },
            failures: failures,
            started: DashboardFormat.time(record.startedAt), finished: DashboardFormat.time(record.finishedAt),
            generated: DashboardFormat.time(now),
            mail: mail.map { mail in
                MailRow(
                    state: mail.state.rawValue, badge: mail.state == .sent ? "pass" : mail.state == .dead ? "error" : "running",
                    recipients: mail.recipients.joined(separator: ", "), tries: mail.attempts, error: mail.lastError)
            })
        page.results = results
        return page
    }

    static func failed(_ outcome: String?) -> Bool {
        guard let outcome = outcome?.lowercased() else { return false }
        return ["fail", "failed", "error", "timeout", "timed_out", "cancelled"].contains(outcome)
    }

    // MARK: worker host

    struct WorkerPage {
        var title: String
        var stream = "/api/v1/events/stream"
        var host: String
        var instances: [WorkerRow]
        var retries: [InstanceRetries]
        var tasks: [RecentTask]
        var failures: [FailureRow]
        var generated: String
        var health: [InstanceHealth]
        var healthChanges: [HealthRow]
        var canOperate: Bool
    }

    struct InstanceRetries {
        var instance: String
        var flash: String
        var boot: String
        var failures: Int
    }

    struct RecentTask {
        var started: String
        var instance: String
        var testrunLink: String
        var testrun: String
        var number: Int
        var state: String
        var verdict: String?
        var badge: String
        var attempts: Int
        var flashTries: Int
        var bootTries: Int
    }

    /// Nil when no instance of the host is known.
    func worker(host: String, canOperate: Bool = false, window: Double = 7 * 86_400, now: Date = Date()) async throws -> WorkerPage? {
        let data = try await store.read {
            tx -> ([WorkerRecord], [TaskRecord], [EventRecord], [EventRecord], [String: WorkerTries], HealthReading)? in
            let instances = try await tx.workers().filter { $0.host == host }
            guard !instances.isEmpty else { return nil }
            let ids = instances.map(\.id)
            let started = try await tx.newestEvents(types: [EventType.taskStarted.rawValue], workers: ids, limit: 20)
            let tasks = try await tx.tasks(ids: started.compactMap(\.taskID) + instances.compactMap(\.currentTask))
            let failures = try await tx.newestEvents(
                types: [EventType.failure.rawValue], workers: ids, taskIDs: started.compactMap(\.taskID), limit: 20)
            let health = HealthReading(
                latest: try await tx.latestHealthEvents(workers: ids),
                figures: try await tx.healthStatistics(since: now.addingTimeInterval(-window), until: now, workers: ids),
                changes: try await tx.newestEvents(types: [EventType.deviceHealthChanged.rawValue], workers: ids, limit: 30))
            return (instances, tasks, started, failures, try await tx.tries(workers: ids, since: now.addingTimeInterval(-window)), health)
        }
        guard let (instances, tasks, started, failureEvents, tries, reading) = data else { return nil }
        let health = instanceHealth(
            instances, latest: reading.latest, figures: reading.figures, changes: reading.changes, canOperate: canOperate, now: now)
        let taskByID = Dictionary(tasks.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        let failures = failureEvents.compactMap { record -> FailureRow? in
            guard let event = try? JSONCoding.decoder().decode(MonitorEvent.self, from: Data(record.payload.utf8)), let error = event.error
            else { return nil }
            return FailureRow(
                time: DashboardFormat.time(record.receivedAt), category: error.category.rawValue,
                owner: DashboardFormat.owner(error.category),
                message: error.message, link: Self.errorLink(error.signature), worker: record.worker ?? "-")
        }
        return WorkerPage(
            title: "Worker host \(host)", host: host,
            instances: workerRows(instances.sorted { $0.instanceName < $1.instanceName }, tasks: tasks, health: reading.latest, now: now),
            retries: instances.map { instance in
                let counted = tries[instance.id] ?? WorkerTries()
                return InstanceRetries(
                    instance: instance.instanceName,
                    flash: DashboardFormat.percent(Statistics.Retries(phases: counted.flash.first, retries: counted.flash.retries).rate),
                    boot: DashboardFormat.percent(Statistics.Retries(phases: counted.boot.first, retries: counted.boot.retries).rate),
                    failures: counted.failures)
            },
            tasks: started.compactMap { event -> RecentTask? in
                guard let id = event.taskID, let task = taskByID[id] else { return nil }
                return RecentTask(
                    started: DashboardFormat.time(event.receivedAt),
                    instance: event.worker?.split(separator: "/").last.map(String.init) ?? "-",
                    testrunLink: Self.testrunLink(task.testrunID), testrun: task.testrunID, number: task.sequence + 1,
                    state: task.state.rawValue, verdict: task.verdict, badge: Self.badge(state: task.state.rawValue, verdict: task.verdict),
                    attempts: task.attempts, flashTries: task.flashTries, bootTries: task.bootTries)
            },
            failures: failures, generated: DashboardFormat.time(now), health: health.instances, healthChanges: health.changes,
            canOperate: canOperate)
    }

    // MARK: error

    struct ErrorPage {
        var title: String
        var stream = "/api/v1/events/stream?type=failure"
        var signature: String
        var category: String
        var owner: String
        var count: Int
        var firstSeen: String
        var lastSeen: String
        var example: String
        var workers: [Count]
        var deviceGroups: [Count]
        var occurrences: [Occurrence]
        var shown: Int
        var generated: String
    }

    struct Count {
        var name: String
        var count: Int
        var link: String?
    }

    struct Occurrence {
        var time: String
        var testrun: String
        var testrunLink: String?
        var package: String
        var worker: String
        var message: String
        var cause: CauseBlock? = nil
    }

    /// Nil when the error was never seen.
    func error(signature: String, now: Date = Date()) async throws -> ErrorPage? {
        let (summary, records, causes) = try await store.read { tx in
            let records = try await tx.newestEvents(types: [EventType.failure.rawValue], signature: signature, limit: 200)
            let events = records.compactMap { try? JSONCoding.decoder().decode(MonitorEvent.self, from: Data($0.payload.utf8)) }
            return (try await tx.occurrences(signature: signature), records, try await self.causes(of: events, tx: tx))
        }
        guard summary.count > 0 else { return nil }
        let events = records.compactMap { try? JSONCoding.decoder().decode(MonitorEvent.self, from: Data($0.payload.utf8)) }
        let newest = events.first?.error
        func counts(_ names: [String], link: (String) -> String?) -> [Count] {
            Dictionary(grouping: names, by: { $0 }).map { Count(name: $0.key, count: $0.value.count, link: link($0.key)) }
                .sorted { ($0.count, $1.name) > ($1.count, $0.name) }
        }
        let workers = events.map { $0.sender.workerID }
        let groups = records.compactMap(\.deviceGroup)
        return ErrorPage(
            title: "Error \(signature)", signature: signature, category: newest?.category.rawValue ?? "-",
            owner: DashboardFormat.owner(newest?.category), count: summary.count, firstSeen: DashboardFormat.time(summary.first),
            lastSeen: DashboardFormat.time(summary.last), example: newest?.message ?? "",
            workers: counts(workers) { Self.hostLink(String($0.split(separator: "/").first ?? "")) },
            deviceGroups: counts(groups) { "/?devicegroup=" + DashboardFormat.pathSegment($0) },
            occurrences: events.map { event in
                Occurrence(
                    time: DashboardFormat.time(event.receivedAt ?? event.emittedAt), testrun: event.testrunID ?? "-",
                    testrunLink: event.testrunID.map(Self.testrunLink), package: event.package ?? "-",
                    worker: event.sender.workerID, message: event.error?.message ?? "", cause: causes[event.id])
            },
            shown: events.count, generated: DashboardFormat.time(now))
    }
}

extension Array where Element: Hashable {
    /// The elements in order, each once.
    func uniqued() -> [Element] {
        var seen: Set<Element> = []
        return filter { seen.insert($0).inserted }
    }
}
