import Foundation
import Testing

@testable import OTSWorker

@Suite struct SimulatedDeviceTests {
    @Test func givenTriesFailWhateverTheProbability() {
        var behaviour = SimulatedDevice.Behaviour(SimulatedDevice(flash: .init(failingTries: [1])))
        let first = behaviour.flashSucceeds(try: 1)
        let second = behaviour.flashSucceeds(try: 2)
        let boot = behaviour.bootSucceeds(try: 1)
        #expect(!first)
        #expect(second)
        #expect(boot)
    }

    @Test func theSameSeedGivesTheSameOutcomes() {
        let device = SimulatedDevice(flash: .init(failureProbability: 0.5), boot: .init(failureProbability: 0.5), seed: 42)
        func outcomes() -> [Bool] {
            var behaviour = SimulatedDevice.Behaviour(device)
            var all: [Bool] = []
            for number in 1...50 {
                all.append(behaviour.flashSucceeds(try: number))
                all.append(behaviour.bootSucceeds(try: number))
            }
            return all
        }
        let first = outcomes()
        #expect(first == outcomes())
        // About half fail, as configured.
        let failures = first.filter { !$0 }.count
        #expect((30...70).contains(failures))
        var other = SimulatedDevice.Behaviour(
            SimulatedDevice(flash: .init(failureProbability: 0.5), boot: .init(failureProbability: 0.5), seed: 7))
        var otherOutcomes: [Bool] = []
        for number in 1...50 {
            otherOutcomes.append(other.flashSucceeds(try: number))
            otherOutcomes.append(other.bootSucceeds(try: number))
        }
        #expect(otherOutcomes != first)
    }

    @Test func probabilitiesAtTheEdges() {
        var never = SimulatedDevice.Behaviour(SimulatedDevice(flash: .init(failureProbability: 0)))
        var always = SimulatedDevice.Behaviour(SimulatedDevice(flash: .init(failureProbability: 1)))
        var successes = 0
        var failures = 0
        for number in 1...100 {
            if never.flashSucceeds(try: number) { successes += 1 }
            if !always.flashSucceeds(try: number) { failures += 1 }
        }
        #expect(successes == 100)
        #expect(failures == 100)
    }

    @Test func decodesFromConfigurationAndNamesBadFields() throws {
        let json = #"{"flash": {"seconds": 2.5, "failure_probability": 0.1, "failing_tries": [1]}, "boot": {"seconds": 1}, "seed": 9}"#
        let device = try JSONDecoder().decode(SimulatedDevice.self, from: Data(json.utf8))
        #expect(device.flash == .init(seconds: 2.5, failureProbability: 0.1, failingTries: [1]))
        #expect(device.boot.seconds == 1)
        #expect(device.problems.isEmpty)
        let bad = SimulatedDevice(flash: .init(seconds: -1, failureProbability: 2), boot: .init(failingTries: [0]))
        #expect(
            bad.problems == [
                "flash.seconds must be from 0 to 86400", "flash.failure_probability must be from 0 to 1",
                "boot.failing_tries counts tries from 1",
            ])
    }
}
