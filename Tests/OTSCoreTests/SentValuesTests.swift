import Foundation
import Testing

@testable import OTSCore

/// What a sender may put in an event, and how text from a client reaches a log.
@Suite struct SentValuesTests {
    func event(_ configure: (inout MonitorEvent) -> Void = { _ in }) -> MonitorEvent {
        var event = MonitorEvent(
            type: .flashFinished, sender: .init(host: "rack1.lab", instance: "phone-1", pid: 4711, version: "0.1.0"),
            testrunID: UUID().uuidString, taskID: UUID().uuidString.lowercased(), attempt: 1)
        configure(&event)
        return event
    }

    @Test func aWellFormedEventHasNoProblems() {
        #expect(
            event {
                $0.durationMs = 31_536_000_000; $0.tryNumber = 1000; $0.outcome = "ok"; $0.verdict = "N/A"
            }.problems == [])
    }

    typealias Change = @Sendable (inout MonitorEvent) -> Void

    static let outOfRange: [(String, Change)] = [
        ("duration_ms", { e in e.durationMs = .max }),
        ("duration_ms", { e in e.durationMs = 31_536_000_001 }),
        ("duration_ms", { e in e.durationMs = -1 }),
        ("try", { e in e.tryNumber = 0 }),
        ("try", { e in e.tryNumber = .max }),
        ("attempt", { e in e.attempt = 0 }),
        ("attempt", { e in e.attempt = 1001 }),
        ("emitted_at", { e in e.emittedAt = Date(timeIntervalSince1970: 3e12) }),
        ("emitted_at", { e in e.emittedAt = Date(timeIntervalSince1970: 0) }),
        ("id", { e in e.id = "e1\r\nFAKE" }),
        ("type", { e in e.type = "test.case.finished\nFAKE" }),
        ("type", { e in e.type = "" }),
        ("sender.host", { e in e.sender.host = "evil\nFAKE LOG LINE" }),
        ("sender.host", { e in e.sender.host = ".." }),
        ("sender.instance", { e in e.sender.instance = "." }),
        ("sender.instance", { e in e.sender.instance = "a/b" }),
        ("sender.pid", { e in e.sender.pid = -1 }),
        ("sender.version", { e in e.sender.version = "1\n2" }),
        ("task_id", { e in e.taskID = "not-a-uuid" }),
        ("testrun_id", { e in e.testrunID = "../x" }),
        ("outcome", { e in e.outcome = "maybe" }),
        ("verdict", { e in e.verdict = "pass" }),
        ("details", { e in e.details = ["": "x"] }),
        ("details", { e in e.details = ["k": String(repeating: "x", count: 4097)] }),
        ("package", { e in e.package = String(repeating: "p", count: 4097) }),
    ]

    @Test(arguments: outOfRange)
    func everyFieldOutOfItsRangeIsNamed(field: String, configure: Change) {
        let problems = event(configure).problems
        #expect(problems.count == 1, "\(problems)")
        #expect(problems.first?.hasPrefix(field + ": ") == true, "\(problems)")
    }

    @Test func onlyTheTypesWorkersSendAreTheirs() {
        #expect(EventType.sentByWorkers.contains(.flashFinished))
        #expect(EventType.sentByWorkers.contains(.failure))
        for type: EventType in [.testrunFinished, .taskFinished, .taskClaimed, .workerOnline, .workerHeartbeat, .workerRefused] {
            #expect(!EventType.sentByWorkers.contains(type), "\(type)")
        }
    }

    @Test func aSignatureIsComputedWhenNoneIsSent() throws {
        let json = #"{"category": "device", "message": "flash failed on port 4711"}"#
        let failure = try JSONCoding.decoder().decode(MonitorEvent.Failure.self, from: Data(json.utf8))
        #expect(failure.signature == "flash failed on port <n>")
    }

    @Test(arguments: [
        ("plain", "plain"),
        ("evil\nFAKE LOG LINE", #"evil\nFAKE LOG LINE"#),
        ("a\r\nb\tc", #"a\r\nb\tc"#),
        ("esc\u{1B}[31mred", #"esc\u{1B}[31mred"#),
        ("c1\u{85}next", #"c1\u{85}next"#),
        ("ünïcode ✓", "ünïcode ✓"),
    ])
    func logSafeTextIsOneLine(text: String, logged: String) {
        #expect(text.logSafe == logged)
        #expect(!text.logSafe.containsControlCharacters)
    }

    static let conversions: [(Double, Int64)] = [
        (9.3e18, Int64.max), (-9.3e18, Int64.min), (Double.infinity, Int64.max), (-Double.infinity, Int64.min), (Double.nan, 0),
        (9_223_372_036_854_775_807.0, Int64.max), (1.5, 2), (-1.5, -2), (42, 42),
    ]

    @Test(arguments: conversions)
    func saturatingConversionNeverTraps(value: Double, expected: Int64) {
        #expect(Int64(saturating: value) == expected)
    }

    @Test func registrationsAndHeartbeatsNameTheirFields() {
        let device = DeviceProperties(devicegroup: "g")
        #expect(WorkerRegistration(host: "rack1.lab.example", instance: "phone_1", pid: 1, device: device).problems.isEmpty)
        #expect(WorkerRegistration(host: "evil\nFAKE", instance: "i", pid: 1, device: device).problems.map(\.field) == ["host"])
        #expect(WorkerRegistration(host: "h", instance: "..", pid: 1, device: device).problems.map(\.field) == ["instance"])
        #expect(WorkerRegistration(host: "h", instance: "i", pid: -3, device: device).problems.map(\.field) == ["pid"])
        // A worker named as a component would speak for other workers in the monitor's statistics.
        for component in ["server", "monitor"] {
            #expect(WorkerRegistration(host: "h", instance: component, pid: 1, device: device).problems.map(\.field) == ["instance"])
        }
        #expect(Heartbeat(workerID: "h/i", state: "busy", taskID: UUID().uuidString).problems.isEmpty)
        #expect(Heartbeat(workerID: "h/i", state: "offline").problems.map(\.field) == ["state"])
        #expect(Heartbeat(workerID: "h/i", state: "free", spooledTaskIDs: ["x"]).problems.map(\.field) == ["spooled_task_ids[0]"])
        #expect(ClaimRequest(workerID: "h/i", waitSeconds: 20).problem == nil)
        #expect(ClaimRequest(workerID: "h/i", waitSeconds: .nan).problem?.field == "wait_seconds")
        #expect(ClaimRequest(workerID: "h/i", waitSeconds: -1).problem?.field == "wait_seconds")
        #expect(ClaimRequest(workerID: "h/i", waitSeconds: 1e300).problem?.field == "wait_seconds")
    }
}
