import Foundation
import Hummingbird
import OTSCore
import OTSHTTP
import OTSStore

/// The monitor's REST API under `/api/v1`.
struct MonitorRoutes {
    let store: Store
    let configuration: MonitorConfiguration

    func register(on router: Router<BasicRequestContext>) {
        let api = router.group("api/v1")
        api.get("health") { _, _ in try JSONResponse.make(["status": "ok", "version": OTSVersion.current]) }
        api.get("events") { request, _ in
            let query = request.uri.queryParameters
            var since: Date?
            if let text = query.get("since") {
                guard
                    let date = try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text)
                        ?? Date.ISO8601FormatStyle().parse(text)
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
            let records = try await store.transaction { tx in
                try await tx.events(
                    testrunID: query.get("testrun"), worker: query.get("worker"), type: query.get("type"), since: since, limit: limit)
            }
            let events = records.compactMap { try? JSONCoding.decoder().decode(MonitorEvent.self, from: Data($0.payload.utf8)) }
            return try JSONResponse.make(EventBatch(events: events))
        }
        api.get("workers") { _, _ in
            let workers = try await store.transaction { tx in try await tx.workers() }
            let views = workers.map { worker in
                WorkerView(
                    id: worker.id, host: worker.host, instance: worker.instanceName, version: worker.version, pid: worker.pid,
                    device: DeviceProperties(devicegroup: worker.deviceGroup, devicename: worker.deviceName, deviceid: worker.deviceID),
                    state: worker.state, currentTask: worker.currentTask, lastHeartbeat: worker.lastHeartbeat)
            }
            return try JSONResponse.make(WorkerList(workers: views))
        }
        api.get("monitor") { _, _ in
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
