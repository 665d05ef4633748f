import Foundation
import OTSCore
import Testing

@testable import OTSServer

/// `latest_logs` lines from events: who, when, how bad, what.
@Suite struct LogLineTests {
    static func event(_ type: EventType, _ change: (inout MonitorEvent) -> Void = { _ in }) -> MonitorEvent {
        var event = MonitorEvent(type: type, sender: MonitorEvent.Sender(host: "rack1", instance: "n9", pid: 1), testrunID: "t1")
        event.receivedAt = Date(timeIntervalSince1970: 1_700_000_000.25)
        change(&event)
        return event
    }

    @Test(arguments: [
        (event(.testrunFinished) { $0.verdict = "PASS" }, "INFO"),
        (event(.testrunFinished) { $0.verdict = "ERROR" }, "ERROR"),
        (event(.packageFinished) { $0.verdict = "FAIL" }, "WARNING"),
        (event(.flashFinished) { $0.outcome = "failed" }, "WARNING"),
        (event(.failure) { $0.error = MonitorEvent.Failure(category: .device, message: "gone") }, "ERROR"),
        (event(.taskRequeued), "WARNING"),
        (event(.taskQueued), "INFO"),
    ])
    func levels(event: MonitorEvent, level: String) {
        #expect(LogLine(event).level == level)
    }

    @Test func aLineHasTheOriginalsFiveFields() {
        let line = LogLine(
            Self.event(.packageFinished) {
                $0.package = "shell"
                $0.verdict = "FAIL"
                $0.taskID = "k1"
                $0.attempt = 2
            })
        #expect(line.runID == "t1")
        #expect(line.date == "2023-11-14 22:13:20,250")
        #expect(line.module == "rack1/n9")
        #expect(line.message == "test.package.finished, task k1 attempt 2, package shell, FAIL")
        #expect(
            line.value
                == .array([
                    .string("t1"), .string("2023-11-14 22:13:20,250"), .string("rack1/n9"), .string("WARNING"), .string(line.message),
                ]))
    }
}
