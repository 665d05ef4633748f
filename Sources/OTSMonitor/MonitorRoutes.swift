import Foundation
import Hummingbird
import OTSCore
import OTSHTTP
import OTSStore

/// The monitor's REST API under `/api/v1`, one route collection per
/// resource, and `/metrics`.
struct MonitorRoutes {
    let store: Store
    let configuration: MonitorConfiguration
    let metrics: MonitorMetrics

    /// The statistics a request asks for: `window` (like `90s`, `30m`,
    /// `24h`, `7d`; from 1m to 365d; default 24h) or `since` (and `until`,
    /// ISO 8601), `devicegroup`, `worker`.
    func statistics(_ request: Request, commonErrors: Int, health: Bool = false) async throws -> Statistics {
        let query = request.uri.queryParameters
        let window: StatisticsWindow
        do {
            window = try StatisticsWindow.parse(window: query.get("window"), since: query.get("since"), until: query.get("until"))
        } catch {
            throw APIError(.badRequest, error.message, field: error.field)
        }
        return try await store.read { tx in
            let (group, worker) = (query.get("devicegroup"), query.get("worker"))
            var statistics = try await tx.statistics(
                since: window.since, until: window.until, deviceGroup: group, worker: worker, commonErrors: commonErrors)
            if health {
                statistics.health = try await tx.healthStatistics(
                    since: window.since, until: window.until, deviceGroup: group, worker: worker)
            }
            statistics.errorsByCause = try await tx.failureCauses(
                since: window.since, until: window.until, deviceGroup: group, worker: worker)
            return statistics
        }
    }

    func register(on router: Router<OTSRequestContext>, reading: AccessMiddleware) {
        router.group("metrics").add(middleware: reading).get { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(
                    byteBuffer: ByteBuffer(bytes: try await metrics.exposition(store: store, consumer: configuration.consumer))))
        }
        let api = router.apiGroup(document: Array(MonitorOpenAPIDocument.data)).group().add(middleware: reading)
        api.addRoutes(EventRoutes(monitor: self).collection, atPath: "events")
        api.addRoutes(TimelineRoutes(monitor: self).collection, atPath: "testruns")
        api.addRoutes(WorkerListRoutes(monitor: self).collection, atPath: "workers")
        api.addRoutes(StatisticsRoutes(monitor: self).collection)
        api.addRoutes(TestrunCaseRoutes(monitor: self).collection, atPath: "testruns")
        api.addRoutes(CaseHistoryRoutes(monitor: self).collection)
    }
}

/// `/events`: stored events by filter, and the live stream.
struct EventRoutes: ResourceRoutes {
    let monitor: MonitorRoutes

    func add(to routes: RouteCollection<OTSRequestContext>) {
        let (store, configuration) = (monitor.store, monitor.configuration)
        routes.get { request, _ in
            let query = request.uri.queryParameters
            var since: Date?
            if let text = query.get("since") {
                guard
                    let date = (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text))
                        ?? (try? Date.ISO8601FormatStyle().parse(text))
                else {
                    throw APIError(.badRequest, "since: '\(text.prefix(50))' is not an ISO 8601 time", field: "since")
                }
                since = date
            }
            var limit = 1000
            if let text = query.get("limit") {
                guard let value = Int(text), (1...10_000).contains(value) else {
                    throw APIError(.badRequest, "limit: must be an integer from 1 to 10000", field: "limit")
                }
                limit = value
            }
            let records = try await store.read { tx in
                try await tx.events(
                    testrunID: query.get("testrun"), worker: query.get("worker"), type: query.get("type"), since: since, limit: limit)
            }
            let events = records.compactMap { try? JSONCoding.decoder().decode(MonitorEvent.self, from: Data($0.payload.utf8)) }
            return try JSONResponse.make(EventBatch(events: events))
        }
        routes.get("stream") { request, _ in
            try await EventStream(store: store, pollInterval: .milliseconds(Int64(configuration.pollInterval * 1000))).response(
                for: request)
        }
    }
}

/// `/testruns/{id}/timeline`: a testrun's phases, from its events.
struct TimelineRoutes: ResourceRoutes {
    let monitor: MonitorRoutes

    func add(to routes: RouteCollection<OTSRequestContext>) {
        let store = monitor.store
        routes.get(":id/timeline") { _, context in
            let id = try context.parameters.require("id")
            let records = try await store.read { tx in try await tx.events(testrunID: id, limit: 100_000) }
            guard !records.isEmpty else { throw APIError(.notFound, "the monitor has no events of testrun \(id)") }
            let events = records.compactMap { try? JSONCoding.decoder().decode(MonitorEvent.self, from: Data($0.payload.utf8)) }
            return try JSONResponse.make(Timeline(testrunID: id, events: events))
        }
    }
}

/// `/workers`: the worker instances the monitor knows, with their state.
struct WorkerListRoutes: ResourceRoutes {
    let monitor: MonitorRoutes

    func add(to routes: RouteCollection<OTSRequestContext>) {
        let store = monitor.store
        routes.get { _, _ in
            let workers = try await store.read { tx in try await tx.workers() }
            let views = workers.map { worker in
                WorkerView(
                    id: worker.id, host: worker.host, instance: worker.instanceName, version: worker.version, pid: worker.pid,
                    device: DeviceProperties(devicegroup: worker.deviceGroup, devicename: worker.deviceName, deviceid: worker.deviceID),
                    state: worker.state, currentTask: worker.currentTask, lastHeartbeat: worker.lastHeartbeat)
            }
            return try JSONResponse.make(WorkerList(workers: views))
        }
    }
}

/// `/stats`, `/errors` and `/monitor`: the farm's statistics, its most
/// common errors, and the monitor's own state.
struct StatisticsRoutes: ResourceRoutes {
    let monitor: MonitorRoutes

    func add(to routes: RouteCollection<OTSRequestContext>) {
        let (store, configuration, monitor) = (monitor.store, monitor.configuration, monitor)
        routes.get("stats") { request, _ in
            try JSONResponse.make(try await monitor.statistics(request, commonErrors: 10, health: true))
        }
        routes.get("errors") { request, _ in
            var limit = 20
            if let text = request.uri.queryParameters.get("limit") {
                guard let value = Int(text), (1...1000).contains(value) else {
                    throw APIError(.badRequest, "limit: must be an integer from 1 to 1000", field: "limit")
                }
                limit = value
            }
            let statistics = try await monitor.statistics(request, commonErrors: limit)
            return try JSONResponse.make(["errors": statistics.commonErrors])
        }
        routes.get("monitor") { _, _ in
            let backlog = try await store.backlog(consumer: configuration.consumer)
            let status = MonitorStatus(
                consumer: configuration.consumer,
                backlogEvents: backlog.count,
                lagSeconds: backlog.oldest.map { max(0, Date().timeIntervalSince($0)) } ?? 0,
                droppedEvents: try await store.counter("dropped"))
            return try JSONResponse.make(status)
        }
    }
}
