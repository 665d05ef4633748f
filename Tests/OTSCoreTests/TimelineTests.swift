import Foundation
import Testing

@testable import OTSCore

@Suite struct TimelineTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    func event(
        _ type: EventType, at offset: Double, task: String? = "t1", try number: Int? = nil, package: String? = nil, outcome: String? = nil
    )
        -> MonitorEvent
    {
        var event = MonitorEvent(
            type: type, emittedAt: start.addingTimeInterval(offset), sender: .init(host: "h", instance: "i"), taskID: task)
        // Workers send events in batches: the server receives them later,
        // several at once.
        event.receivedAt = start.addingTimeInterval(offset.rounded(.up) + 7)
        event.tryNumber = number
        event.package = package
        event.outcome = outcome
        event.attempt = task == nil ? nil : 1
        return event
    }

    @Test func phasesPairTheirStartsAndEndsOnTheSendersClock() {
        let events = [
            event(.testrunRequested, at: 0, task: nil), event(.taskQueued, at: 0), event(.taskClaimed, at: 2), event(.taskStarted, at: 2),
            event(.flashStarted, at: 2, try: 1), event(.flashFinished, at: 4.5, try: 1, outcome: "failed"),
            event(.flashStarted, at: 4.5, try: 2), event(.flashFinished, at: 9, try: 2, outcome: "ok"),
            event(.bootStarted, at: 9, try: 1), event(.bootFinished, at: 10, try: 1, outcome: "ok"),
            event(.packageStarted, at: 10, package: "a"), event(.packageFinished, at: 15, package: "a"),
            event(.packageStarted, at: 15, package: "b"),
        ]
        let timeline = Timeline(testrunID: "r", events: events)
        let summary = timeline.phases.map {
            "\($0.phase) \($0.detail ?? "-") \($0.seconds.map { String($0) } ?? "running") \($0.outcome ?? "-")"
        }
        #expect(
            summary == [
                "testrun - running -", "queue - 2.0 -", "task - running -", "flash try 1 2.5 failed", "flash try 2 4.5 ok",
                "boot try 1 1.0 ok", "test a 5.0 -", "test b running -",
            ])
    }
}
