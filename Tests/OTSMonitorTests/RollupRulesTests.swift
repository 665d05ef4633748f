import Foundation
import OTSCore
import Testing

@testable import OTSMonitor
@testable import OTSStore

/// What each kind of event adds to the rollups: the names it counts in
/// the farm's scope, and whose they are.
@Suite struct RollupRulesTests {
    static let at = Date(timeIntervalSince1970: 1_800_000_000)
    static let server = MonitorEvent.Sender(host: "srv", instance: "server", pid: 1, version: "1")
    static let device = MonitorEvent.Sender(host: "rack", instance: "dut1", pid: 2, version: "1")

    static func event(_ type: EventType, _ sender: MonitorEvent.Sender = device, _ change: (inout MonitorEvent) -> Void = { _ in })
        -> MonitorEvent
    {
        var event = MonitorEvent(type: type, emittedAt: at, sender: sender, testrunID: "t1")
        event.receivedAt = at
        change(&event)
        return event
    }

    static let cases: [(String, MonitorEvent, [String])] = [
        ("a request", event(.testrunRequested, server), ["events.testrun.requested", "testruns.requested"]),
        ("a verdict", event(.testrunFinished, server) { $0.verdict = "FAIL" }, ["events.testrun.finished", "verdict.FAIL"]),
        ("a cancel", event(.testrunCancelled, server), ["events.testrun.cancelled", "testruns.cancelled"]),
        ("a claim", event(.taskClaimed, server) { $0.durationMs = 5 }, ["events.task.claimed", "tasks.claimed"]),
        ("a task's end", event(.taskFinished, server) { $0.details = ["state": "failed"] }, ["events.task.finished", "tasks.failed"]),
        ("a first flash", event(.flashFinished) { $0.tryNumber = 1 }, ["events.device.flash.finished", "flash.first"]),
        ("a second boot", event(.bootFinished) { $0.tryNumber = 2 }, ["events.device.boot.finished", "boot.retries"]),
        (
            "a failure", event(.failure) { $0.error = .init(category: .image, message: "no image at /x/1") },
            ["events.failure", "failures.image"]
        ),
        ("a heartbeat", event(.workerHeartbeat), ["events.worker.heartbeat"]),
    ]

    @Test(arguments: cases)
    func eachEventCountsWhatItSays(name: String, event: MonitorEvent, counts: [String]) {
        var rollup = Rollup()
        RollupRules.add(event, testrun: MonitorTestrun(id: "t1", deviceGroup: "g", image: "img"), to: &rollup)
        let farm = rollup.counts.filter { $0.key.deviceGroup == Rollup.all && $0.key.worker == Rollup.all }
        #expect(Set(farm.keys.map(\.name)) == Set(counts), "\(name)")
        #expect(farm.values.allSatisfy { $0 == 1 }, "\(name)")
        let groups = Set(rollup.counts.keys.map(\.deviceGroup))
        #expect(groups == [Rollup.all, "g"], "\(name): the farm and the testrun's group")
    }

    @Test func aHealthCheckCountsApartFromTheFarmsVerdicts() {
        var rollup = Rollup()
        let check = MonitorTestrun(id: "t1", deviceGroup: "g", image: nil, healthCheck: true)
        RollupRules.add(Self.event(.testrunRequested, Self.server), testrun: check, to: &rollup)
        RollupRules.add(Self.event(.testrunFinished, Self.server) { $0.verdict = "PASS" }, testrun: check, to: &rollup)
        let names = Set(rollup.counts.keys.map(\.name))
        #expect(names.contains("health_checks.PASS") && names.contains("health_checks.requested"))
        #expect(!names.contains("verdict.PASS") && !names.contains("testruns.requested"))
    }

    @Test func whoseAnEventIs() {
        #expect(RollupRules.worker(of: Self.event(.flashFinished)) == "rack/dut1", "a worker's own")
        #expect(RollupRules.worker(of: Self.event(.taskClaimed, Self.server) { $0.details = ["worker": "rack/dut2"] }) == "rack/dut2")
        #expect(RollupRules.worker(of: Self.event(.testrunRequested, Self.server)) == nil, "the server's own")
    }

    @Test func aVerdictCountsForEachWorkerOfTheTestrunOnce() {
        var rollup = Rollup()
        let finished = Self.event(.testrunFinished, Self.server) {
            $0.verdict = "PASS"
            $0.details = ["workers": "rack/dut1 rack/dut2"]
        }
        RollupRules.add(finished, testrun: MonitorTestrun(id: "t1", deviceGroup: "g", image: nil), to: &rollup)
        let verdicts = rollup.counts.filter { $0.key.name == "verdict.PASS" }
        #expect(
            Set(verdicts.keys.map { "\($0.deviceGroup) \($0.worker)" }) == ["* *", "g *", "* rack/dut1", "* rack/dut2"])
        #expect(verdicts.values.allSatisfy { $0 == 1 })
    }

    @Test func durationsGoToTheirPhases() {
        var rollup = Rollup()
        let testrun = MonitorTestrun(id: "t1", deviceGroup: "g", image: nil)
        RollupRules.add(Self.event(.taskClaimed, Self.server) { $0.durationMs = 1200 }, testrun: testrun, to: &rollup)
        RollupRules.add(
            Self.event(.packageFinished) {
                $0.package = "p"
                $0.durationMs = 9000
            }, testrun: testrun, to: &rollup)
        let phases = Set(rollup.slots.keys.filter { $0.key.deviceGroup == Rollup.all && $0.key.worker == Rollup.all }.map(\.key.name))
        #expect(phases == ["queue_wait", "test", "package:p"])
    }
}
