import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// The readers beside `ots bench load`: dashboards fetching the overview
/// page as an open dashboard redraws while events arrive (every two
/// seconds), and clients following the live event stream. They run until
/// the load ends and tell what they got.
struct LoadReaders {
    var dashboards: Int
    var streams: Int
    /// The monitor, on loopback.
    var monitorURL: String
    var token: String
    /// How often each dashboard redraws (dashboard.js: at most every two
    /// seconds while events come).
    var redraw = Duration.seconds(2)

    /// What the readers got.
    struct Report: Sendable {
        /// Overview pages fetched, seconds each, sorted.
        var pageSeconds: [Double] = []
        var pageFailures: [String] = []
        var streamedEvents = 0
        var streamFailures: [String] = []
    }

    private final class Tally: Sendable {
        let report = Mutex(Report())
    }

    /// Runs the readers until the task is cancelled.
    func run() async -> Report {
        guard dashboards + streams > 0 else { return Report() }
        // Every reader holds a connection of its own (a stream holds it
        // for the whole load).
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(
            idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: dashboards + streams)
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let tally = Tally()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<dashboards {
                group.addTask { await dashboard(http, tally) }
            }
            for _ in 0..<streams {
                group.addTask { await stream(http, tally) }
            }
        }
        try? await http.shutdown()
        return tally.report.withLock { report in
            report.pageSeconds.sort()
            return report
        }
    }

    private func dashboard(_ http: HTTPClient, _ tally: Tally) async {
        let clock = ContinuousClock()
        while !Task.isCancelled {
            var request = HTTPClientRequest(url: monitorURL + "/")
            request.headers.add(name: "Authorization", value: "Bearer " + token)
            request.headers.add(name: "Accept", value: "text/html")
            let start = clock.now
            do {
                let response = try await http.execute(request, timeout: .seconds(60))
                let body = try await response.body.collect(upTo: 16 << 20)
                let elapsed = clock.now - start
                if response.status == .ok && body.readableBytes > 0 {
                    tally.report.withLock { $0.pageSeconds.append(elapsed / .seconds(1)) }
                } else {
                    tally.report.withLock { $0.pageFailures.append("GET / answered \(response.status.code)") }
                }
            } catch {
                if Task.isCancelled { return }
                tally.report.withLock { $0.pageFailures.append("GET /: \(error)") }
            }
            try? await Task.sleep(for: redraw)
        }
    }

    private func stream(_ http: HTTPClient, _ tally: Tally) async {
        var request = HTTPClientRequest(url: monitorURL + "/api/v1/events/stream?after=now")
        request.headers.add(name: "Authorization", value: "Bearer " + token)
        request.headers.add(name: "Accept", value: "text/event-stream")
        do {
            let response = try await http.execute(request, timeout: .hours(24))
            guard response.status == .ok else {
                tally.report.withLock { $0.streamFailures.append("the event stream answered \(response.status.code)") }
                return
            }
            // Counts the events by their `id:` lines, across chunk borders.
            var line: [UInt8] = []
            for try await chunk in response.body {
                var events = 0
                for byte in chunk.readableBytesView {
                    if byte == UInt8(ascii: "\n") {
                        if line.starts(with: Array("id: ".utf8)) { events += 1 }
                        line.removeAll(keepingCapacity: true)
                    } else if line.count < 8 {
                        line.append(byte)
                    }
                }
                tally.report.withLock { $0.streamedEvents += events }
            }
            if !Task.isCancelled {
                tally.report.withLock { $0.streamFailures.append("the event stream ended before the load did") }
            }
        } catch {
            if Task.isCancelled { return }
            tally.report.withLock { $0.streamFailures.append("the event stream: \(error)") }
        }
    }
}
