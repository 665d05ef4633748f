import Foundation
import Testing

@testable import OTSCore

/// The devices' figures from what the monitor stored of them, over a
/// window of 100 s.
@Suite struct HealthStatisticsTests {
    static let since = Date(timeIntervalSince1970: 1_000)
    static let until = since.addingTimeInterval(100)
    static func at(_ seconds: Double) -> Date { since.addingTimeInterval(seconds) }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var health: [(Double, Health)]
        var liveness: [(Double, Bool)]
        var availability: Double?
        var observed: Double
        var bad: Double
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "good and online all along", health: [(-50, .good)], liveness: [(-50, true)], availability: 1, observed: 100, bad: 0),
        Case(
            name: "offline for a quarter of the window", health: [(-50, .good)], liveness: [(-50, true), (25, false), (50, true)],
            availability: 0.75, observed: 100, bad: 0),
        Case(
            name: "bad for 30 s, then good", health: [(-50, .good), (10, .bad), (40, .good)], liveness: [(-50, true)], availability: 0.7,
            observed: 100, bad: 30),
        Case(
            name: "registered in the middle: observed from then on", health: [(60, .unknown), (70, .good)], liveness: [(60, true)],
            availability: 0.75, observed: 40, bad: 0),
        Case(
            name: "in maintenance and offline: never available", health: [(-10, .maintenance)], liveness: [(-10, false)], availability: 0,
            observed: 100, bad: 0),
        Case(
            name: "registered after the window: not observed", health: [(150, .good)], liveness: [(150, true)], availability: nil,
            observed: 0, bad: 0),
        Case(
            name: "a change after the window does not count", health: [(-10, .good), (120, .bad)], liveness: [(-10, true)], availability: 1,
            observed: 100, bad: 0),
    ]

    @Test(arguments: cases)
    func timeIsCountedByHealthAndLiveness(_ test: Case) throws {
        var timeline = HealthStatistics.Timeline(
            worker: "h/i", deviceGroup: "g", health: test.health.map { (Self.at($0.0), $0.1) },
            liveness: test.liveness.map { (Self.at($0.0), $0.1) })
        timeline.tasks = 0
        let figures = try #require(HealthStatistics.compute([timeline], since: Self.since, until: Self.until).instances.first)
        #expect(figures.observedSeconds == test.observed)
        #expect(figures.badSeconds == test.bad)
        if let expected = test.availability {
            #expect(abs((figures.availability ?? -1) - expected) < 1e-9)
        } else {
            #expect(figures.availability == nil)
        }
    }

    @Test func groupsAddUpTheirInstances() throws {
        var one = HealthStatistics.Timeline(
            worker: "h/a", deviceGroup: "g", health: [(Self.at(-1), .good)], liveness: [(Self.at(-1), true)])
        one.tasks = 10
        one.deviceFailures = 2
        one.healthChecks = 3
        one.healthChecksPassed = 1
        var two = HealthStatistics.Timeline(
            worker: "h/b", deviceGroup: "g", health: [(Self.at(-1), .good), (Self.at(50), .bad)], liveness: [(Self.at(-1), true)])
        two.tasks = 5
        let other = HealthStatistics.Timeline(worker: "h/c", deviceGroup: "other", health: [(Self.at(-1), .retired)])
        let statistics = HealthStatistics.compute([two, other, one], since: Self.since, until: Self.until)
        #expect(statistics.instances.map(\.worker) == ["h/a", "h/b", "h/c"])
        #expect(statistics.instances.map(\.health) == [.good, .bad, .retired])
        #expect(statistics.instances[0].tasksBetweenDeviceFailures == 5)
        #expect(statistics.instances[1].tasksBetweenDeviceFailures == nil, "no device failure")
        let group = try #require(statistics.groups.first { $0.deviceGroup == "g" })
        #expect(group.worker == nil)
        #expect(group.availability == 0.75)
        #expect(group.badSeconds == 50)
        #expect(group.tasks == 15)
        #expect(group.deviceFailures == 2)
        #expect(group.tasksBetweenDeviceFailures == 7.5)
        #expect(group.healthChecks == 3)
        #expect(group.healthChecksPassed == 1)
        #expect(statistics.groups.map(\.deviceGroup) == ["g", "other"])
    }
}
