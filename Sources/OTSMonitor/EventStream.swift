import Foundation
import Hummingbird
import NIOCore
import OTSCore
import OTSHTTP
import OTSStore
import ServiceLifecycle

/// The live stream of stored events as Server-Sent Events. Each event's
/// SSE id is its position on the monitor queue, so a client that comes
/// back with `Last-Event-ID` gets every event it missed, none twice.
struct EventStream {
    let store: Store
    let pollInterval: Duration

    func response(for request: Request) async throws -> Response {
        let query = request.uri.queryParameters
        let testrun = query.get("testrun")
        let worker = query.get("worker")
        let type = query.get("type")
        var start: Int64 = 0
        let last = request.headers[.init("Last-Event-ID")!] ?? query.get("after")
        if last == "now" {
            start = try await store.read { tx in try await tx.newestEventSequence() }
        } else if let last {
            guard let position = Int64(last), position >= 0 else {
                throw APIError(.badRequest, "Last-Event-ID: '\(last.prefix(30))' is not an event position", field: "Last-Event-ID")
            }
            start = position
        }
        let store = self.store
        let pollInterval = self.pollInterval
        let after = start
        let body = ResponseBody { writer in
            var position = after
            var quiet = ContinuousClock.now
            var polling = IdlePolling(interval: pollInterval)
            // Tell the client how long to wait before reconnecting.
            try await writer.write(ByteBuffer(string: ServerSentEvent.retry(milliseconds: 1000)))
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                let batch = try await store.read { tx in
                    try await tx.events(afterSequence: position, testrunID: testrun, worker: worker, type: type)
                }
                for (sequence, payload) in batch {
                    let type = try? JSONCoding.decoder().decode(Typed.self, from: Data(payload.utf8)).type
                    let message = ServerSentEvent(id: String(sequence), event: type ?? "event", data: payload)
                    try await writer.write(ByteBuffer(string: message.text))
                    position = sequence
                }
                if batch.isEmpty {
                    if ContinuousClock.now - quiet > .seconds(15) {
                        try await writer.write(ByteBuffer(string: ServerSentEvent.comment("still here")))
                        quiet = ContinuousClock.now
                    }
                    try await Task.sleep(for: polling.wait(found: 0))
                } else {
                    _ = polling.wait(found: batch.count)
                    quiet = ContinuousClock.now
                }
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
            body: body)
    }

    /// The type of a stored event, all the stream's `event:` needs.
    private struct Typed: Decodable {
        var type: String
    }
}
