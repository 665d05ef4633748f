import Testing

@testable import OTSWorker

@Suite struct SpoolScheduleTests {
    static let schedule = SpoolSchedule(slots: 8, batchLimit: 500)

    static func events(_ name: String, _ task: String?, count: Int = 1) -> SpoolSchedule.Entry {
        SpoolSchedule.Entry(name: name, lanes: [task.map { "task " + $0 } ?? "worker"], events: count)
    }

    static func report(_ name: String, _ task: String) -> SpoolSchedule.Entry {
        SpoolSchedule.Entry(name: name, lanes: ["task " + task], worker: "w1", task: task)
    }

    @Test func reportsOfDifferentTasksGoSideBySideUpToTheSlots() {
        let entries = (1...10).map { Self.report("m\($0)", "t\($0)") }

        let sends = Self.schedule.next(entries, busy: [], sending: 0)

        #expect(sends == (1...8).map { ["m\($0)"] }, "the oldest eight, one request each")
    }

    @Test func aTasksMessagesGoOneAtATimeInTheirOrder() {
        let entries = [Self.report("m1", "a"), Self.report("m2", "a"), Self.report("m3", "b"), Self.report("m4", "a")]

        #expect(Self.schedule.next(entries, busy: [], sending: 0) == [["m1"], ["m3"]])
        // While a's first is on its way, its next waits; b's is on its way too.
        #expect(Self.schedule.next(Array(entries.dropFirst()), busy: ["task a", "task b"], sending: 2).isEmpty)
        #expect(Self.schedule.next([entries[1], entries[3]], busy: [], sending: 0) == [["m2"]])
    }

    @Test func eventsAreBatchedButNeverOvertakeTheirTasksEarlierMessages() {
        let entries = [
            Self.events("e1", "a"), Self.events("e2", "b"), Self.report("r1", "a"), Self.events("e3", "a"), Self.events("e4", "c"),
            Self.report("r2", "b"), Self.events("e5", nil),
        ]

        let sends = Self.schedule.next(entries, busy: [], sending: 0)

        // a's results wait for a's first events; a's later events wait for
        // its results; b's results wait for b's events. A batch holds one
        // task's events only.
        #expect(sends == [["e1"], ["e2"], ["e4"], ["e5"]])
    }

    @Test func aTasksEventsInARowGoInOneBatch() {
        let entries = [Self.events("e1", "a"), Self.events("e2", "a"), Self.events("e3", "a"), Self.report("r1", "a")]

        #expect(Self.schedule.next(entries, busy: [], sending: 0) == [["e1", "e2", "e3"]])
    }

    @Test func aBatchHoldsAtMostTheLimit() {
        let schedule = SpoolSchedule(slots: 8, batchLimit: 5)
        let entries = [Self.events("e1", "a", count: 3), Self.events("e2", "a", count: 2), Self.events("e3", "a", count: 1)]

        #expect(schedule.next(entries, busy: [], sending: 0) == [["e1", "e2"]], "e3 waits for the next batch")
    }

    @Test func eachTasksEventsMakeABatchOfTheirOwn() {
        let entries = [Self.events("e1", "a"), Self.events("e2", "b"), Self.events("e3", "a"), Self.events("e4", "b")]

        #expect(Self.schedule.next(entries, busy: [], sending: 0) == [["e1", "e3"], ["e2", "e4"]])
    }

    @Test func sendsOnTheirWayTakeSlots() {
        let entries = (1...4).map { Self.report("m\($0)", "t\($0)") }

        #expect(Self.schedule.next(entries, busy: ["task x"], sending: 7) == [["m1"]])
        #expect(Self.schedule.next(entries, busy: [], sending: 8).isEmpty)
    }

    @Test func aLaneOnItsWayHoldsItsLaterMessagesOnly() {
        let entries = [Self.report("m1", "a"), Self.events("e1", "a"), Self.report("m2", "b")]

        #expect(Self.schedule.next(entries, busy: ["task a"], sending: 1) == [["m2"]])
    }
}
