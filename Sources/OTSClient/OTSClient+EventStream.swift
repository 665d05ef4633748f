import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OTSCore
import Synchronization

extension OTSClient {
    /// How long a stream may stay silent before it counts as dropped: the
    /// monitor writes a comment after 15 s without events.
    static let streamSilence = Duration.seconds(45)

    /// Follows a monitor's live stream of events (`GET
    /// /api/v1/events/stream`, Server-Sent Events), handing each to
    /// `receive` in order, until cancelled. A dropped connection (the
    /// monitor restarting, the network, 45 s of silence) is told to
    /// `dropped` and resumed with `Last-Event-ID`, so that no event is
    /// missed or handed over twice; the wait before reconnecting starts at
    /// the stream's `retry` and doubles up to 5 s while it keeps failing.
    /// A refusal (a bad filter, a missing token) ends it with the error.
    ///
    /// - Parameter after: the stream position to start after (an event's
    ///   SSE id, or `now`); nil starts with the first stored event.
    public func followEvents(
        testrun: String? = nil, worker: String? = nil, type: String? = nil, after: String? = nil,
        dropped: @escaping @Sendable (ClientError) -> Void = { _ in },
        receive: @escaping @Sendable (MonitorEvent) async throws -> Void
    ) async throws {
        var query: [(String, String)] = []
        if let testrun { query.append(("testrun", testrun)) }
        if let worker { query.append(("worker", worker)) }
        if let type { query.append(("type", type)) }
        let state = StreamState(lastEventID: after)
        var backoff = Backoff(initial: .seconds(1))
        while true {
            do {
                try await streamOnce(query: query, state: state, receive: receive)
            } catch let error as ClientError where error.isTransient && !error.isBadResponse {
                try Task.checkCancellation()
                if state.takeProgress() { backoff.reset() }
                dropped(error)
            }
            // The stream's `retry` is the first wait.
            let first = Duration.milliseconds(max(100, state.retry ?? 1000))
            if first != backoff.initial { backoff = Backoff(initial: first) }
            try await Task.sleep(for: backoff.next())
        }
    }

    /// One connection: reads until the monitor ends the stream, or throws
    /// why it could not.
    private func streamOnce(
        query: [(String, String)], state: StreamState, receive: @escaping @Sendable (MonitorEvent) async throws -> Void
    ) async throws {
        var components = URLComponents()
        components.queryItems = query.map { URLQueryItem(name: $0.0, value: $0.1) }
        let encoded = components.percentEncodedQuery?.replacingOccurrences(of: "+", with: "%2B")
        var request = HTTPClientRequest(url: baseURL + "/api/v1/events/stream" + (query.isEmpty ? "" : "?" + (encoded ?? "")))
        request.headers.add(name: "Accept", value: "text/event-stream")
        if let token = authorization { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let last = state.lastEventID { request.headers.add(name: "Last-Event-ID", value: last) }
        let http = self.http
        let baseURL = self.baseURL
        let prepared = request
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                let response: HTTPClientResponse
                do {
                    response = try await http.execute(prepared, deadline: .distantFuture)
                } catch {
                    throw ClientError(.unreachable, "cannot reach the OTS monitor at \(baseURL): \(Self.describe(error))")
                }
                guard response.status.code == 200 else {
                    let body = try? await response.body.collect(upTo: 64 * 1024)
                    let data = body.map { Data($0.readableBytesView) } ?? Data()
                    let problem =
                        (try? JSONCoding.decoder().decode(APIProblem.self, from: data))
                        ?? APIProblem(error: "http", message: "\(response.status) \(String(decoding: data.prefix(200), as: UTF8.self))")
                    throw ClientError(
                        .rejected(status: Int(response.status.code), problem),
                        "the monitor refused GET /api/v1/events/stream: \(problem.message)")
                }
                var parser = ServerSentEvent.Parser(lastEventID: state.lastEventID)
                do {
                    for try await chunk in response.body {
                        state.heard()
                        for message in parser.feed(chunk.readableBytesView) {
                            let event: MonitorEvent
                            do {
                                event = try JSONCoding.decoder().decode(MonitorEvent.self, from: Data(message.data.utf8))
                            } catch {
                                throw ClientError(
                                    .badResponse, "event \(message.id ?? "?") of the monitor's stream does not decode: \(error)")
                            }
                            try await receive(event)
                            state.delivered(message.id)
                        }
                        state.retry = parser.retryMilliseconds
                    }
                } catch let error as ClientError {
                    throw error
                } catch is CancellationError {
                    throw CancellationError()
                } catch {
                    throw ClientError(.unreachable, "the monitor's stream at \(baseURL) dropped: \(Self.describe(error))")
                }
                throw ClientError(.unreachable, "the monitor at \(baseURL) ended the stream")
            }
            group.addTask {
                // Silence this long is a dead connection (the monitor writes
                // something every 15 s): wake rarely, never poll.
                while true {
                    let quiet = state.quietFor()
                    if quiet >= Self.streamSilence {
                        throw ClientError(.unreachable, "the monitor's stream at \(baseURL) was silent for \(Self.streamSilence)")
                    }
                    try await Task.sleep(for: Self.streamSilence - quiet)
                }
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }
}

/// What a followed stream has seen, shared by its reading and watching
/// tasks.
final class StreamState: Sendable {
    private struct Values {
        var lastEventID: String?
        var retry: Int?
        var lastHeard = ContinuousClock.now
        var progressed = false
    }

    private let values: Mutex<Values>

    init(lastEventID: String?) {
        values = Mutex(Values(lastEventID: lastEventID))
    }

    var lastEventID: String? { values.withLock { $0.lastEventID } }

    var retry: Int? {
        get { values.withLock { $0.retry } }
        set { values.withLock { $0.retry = newValue ?? $0.retry } }
    }

    func heard() { values.withLock { $0.lastHeard = .now } }

    func quietFor() -> Duration { values.withLock { .now - $0.lastHeard } }

    /// An event was handed over: a reconnect resumes after it.
    func delivered(_ id: String?) {
        values.withLock {
            if let id { $0.lastEventID = id }
            $0.progressed = true
        }
    }

    /// Whether events came since the last call.
    func takeProgress() -> Bool {
        values.withLock { values in
            defer { values.progressed = false }
            return values.progressed
        }
    }
}

extension ClientError {
    /// The answer could not be read: sending again gets the same.
    fileprivate var isBadResponse: Bool {
        if case .badResponse = kind { return true }
        return false
    }
}
