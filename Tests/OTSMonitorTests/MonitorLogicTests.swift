import Foundation
import Logging
import OTSCore
import OTSStore
import Testing

@testable import OTSMonitor

/// The monitor's decisions over a real store, with the clock given.
@Suite struct MonitorLogicTests {
    static var logger: Logger { TestStore.logger }

    let start = Date(timeIntervalSince1970: 1_800_000_000)

    func withStore(_ body: (Store, MonitorConfiguration) async throws -> Void) async throws {
        var configuration = MonitorConfiguration()
        configuration.heartbeatSeconds = 5
        configuration.missedHeartbeats = 3
        try await TestStore.with { store in try await body(store, configuration) }
    }

    func event(
        _ type: EventType, testrun: String? = nil, package: String? = nil, duration: Int64? = nil, verdict: String? = nil,
        details: [String: String]? = nil
    ) throws -> (id: String, payload: String) {
        var event = MonitorEvent(type: type, emittedAt: start, sender: .init(host: "h", instance: "i1", pid: 7), testrunID: testrun)
        event.details = details
        event.package = package
        event.durationMs = duration
        event.verdict = verdict
        event.receivedAt = start
        return (event.id, try JSONCoding.string(event))
    }

    @Test func eachEventIsStoredOnceAndHistoryComesWithIt() async throws {
        try await withStore { store, configuration in
            let testrun = "t1"
            let appended = [
                try event(.testrunRequested, testrun: testrun, details: ["devicegroup": "phones"]),
                try event(.packageFinished, testrun: testrun, package: "p", duration: 1500, verdict: "PASS"),
            ]
            try await store.transaction { tx in
                try await tx.append(appended + [appended[1]])
            }
            let ingest = Ingest(store: store, configuration: configuration, logger: Self.logger)
            #expect(try await ingest.next() == 3)
            #expect(try await ingest.next() == 0)
            let stored = try await store.transaction { tx in try await tx.events() }
            #expect(stored.map(\.id) == appended.map(\.id), "the repeated event is stored once")
            #expect(stored.map(\.worker) == ["h/i1", "h/i1"])
            let history = try await store.transaction { tx in try await tx.history(deviceGroup: "phones", packages: ["p"]) }
            #expect(history.count == 1, "history once, with the first storing")
            #expect(history.first?.duration == .milliseconds(1500))
        }
    }

    @Test func aStepThatDoesNotReturnIsReportedOncePerPeriod() throws {
        let step = MonitorLoop.Step()
        let period = Duration.milliseconds(500)
        let start = ContinuousClock.now
        #expect(step.overdue(after: period, at: start + period * 10) == nil, "no step under way")
        step.begin("taking a batch of events off the queue", at: start)
        #expect(step.overdue(after: period, at: start + period / 2) == nil, "not overdue yet")
        let first = try #require(step.overdue(after: period, at: start + period * 2))
        #expect(first.0 == "taking a batch of events off the queue")
        #expect(first.1 == period * 2, "its age since it began")
        #expect(step.overdue(after: period, at: start + period * 2.5) == nil, "reported once per period")
        #expect(step.overdue(after: period, at: start + period * 3)?.1 == period * 3, "and again, with its whole age")
        step.end()
        #expect(step.overdue(after: period, at: start + period * 10) == nil, "an ended step is not overdue")
    }

    @Test func aNewStepStartsItsOwnAge() {
        let step = MonitorLoop.Step()
        let period = Duration.seconds(30)
        let start = ContinuousClock.now
        step.begin("taking a batch of events off the queue", at: start)
        step.begin("deciding worker liveness", at: start + .seconds(20))
        #expect(step.overdue(after: period, at: start + .seconds(40)) == nil, "the new step has run 20 s")
        let overdue = step.overdue(after: period, at: start + .seconds(50))
        #expect(overdue?.0 == "deciding worker liveness")
        #expect(overdue?.1 == .seconds(30))
    }

    @Test func aRetentionNoticeIsAnEventLikeAnyOther() throws {
        let dropped = MonitorEvent.queueDropped(
            12, throughSequence: 40, reason: "retention", sender: MonitorEvent.Sender(host: "h", instance: "monitor"), at: start)
        let message = QueueMessage(sequence: 9, eventID: dropped.id, appendedAt: start, payload: try JSONCoding.string(dropped))
        let event = Ingest.event(from: message)
        #expect(event == dropped)
        #expect(event.type == .queueDropped)
        #expect(event.details == ["dropped": "12", "through_sequence": "40", "reason": "retention"])
        #expect(event.sender.instance == "monitor")
    }

    @Test func aMessageThatIsNotAnEventBecomesANoticeThatSaysWhy() {
        let message = QueueMessage(sequence: 9, eventID: "n1", appendedAt: start, payload: #"{"type":"queue.dropped","dropped":12}"#)
        let event = Ingest.event(from: message)
        #expect(event.id == "n1")
        #expect(event.type.rawValue == "queue.notice")
        #expect(event.details?["problem"] == "id: required", "names the first field missing: \(event.details ?? [:])")
        #expect(event.details?["payload"] == message.payload)
        #expect(event.sender.instance == "monitor")
    }

    @Test func workersThatMissTheirHeartbeatsGoOfflineOnce() async throws {
        try await withStore { store, configuration in
            try await store.transaction { tx in
                for (name, beat) in [("quiet", start), ("alive", start.addingTimeInterval(14))] {
                    try await tx.upsertWorker(
                        WorkerRecord(
                            host: "h", instanceName: name, version: "1", deviceGroup: "g", state: "free", lastHeartbeat: beat,
                            registeredAt: start, pid: 42))
                }
            }
            let liveness = Liveness(store: store, configuration: configuration, logger: Self.logger)
            #expect(try await liveness.sweep(at: start.addingTimeInterval(14)).isEmpty, "14 s is fewer than 3 missed beats of 5 s")
            #expect(try await liveness.sweep(at: start.addingTimeInterval(16)) == ["h/quiet"])
            #expect(try await liveness.sweep(at: start.addingTimeInterval(17)).isEmpty, "once")
            let workers = try await store.transaction { tx in try await tx.workers() }
            #expect(workers.map(\.state) == ["free", "offline"])
            #expect(workers.last?.lastHeartbeat == start, "the last heartbeat is kept")
            var events: [MonitorEvent] = []
            _ = try await store.consume(consumer: "test") { _, messages in
                events = try messages.map { try JSONCoding.decoder().decode(MonitorEvent.self, from: Data($0.payload.utf8)) }
            }
            #expect(events.map(\.type) == [.workerOffline])
            #expect(events.first?.sender.pid == 42)
            #expect(events.first?.details?["reason"] == "missed heartbeats")
        }
    }

    @Test func configurationFilesNameTheFileAndKey() throws {
        let path = FileManager.default.temporaryDirectory.path + "/ots-monitor-\(UUID().uuidString).toml"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "port = 9000\nmissed_heartbeats = 5\ndb_unavailable_seconds = 1.5\n".write(toFile: path, atomically: true, encoding: .utf8)
        var configuration = MonitorConfiguration()
        #expect(configuration.dbUnavailableSeconds == 5)
        try configuration.load(file: path)
        #expect(configuration.port == 9000)
        #expect(configuration.offlineAfter == 25)
        #expect(configuration.dbUnavailableSeconds == 1.5)
        try "missed_heartbeat = 5\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: ConfigurationError.self) { try configuration.load(file: path) }
    }
}
