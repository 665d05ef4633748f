import Testing

@testable import OTSWorker

@Suite struct SimulatedDeviceAdapterTests {
    /// Flash then boot outcomes of tries 1 through `tries`.
    static func outcomes(_ adapter: SimulatedDeviceAdapter, tries: Int) async throws -> [DeviceOutcome] {
        var outcomes: [DeviceOutcome] = []
        for number in 1...tries {
            outcomes.append(try await adapter.flash(image: "/cache/image.bin", options: [], try: number))
            outcomes.append(try await adapter.boot(try: number))
        }
        return outcomes
    }

    @Test func failingTriesFailAndTheOthersSucceed() async throws {
        let adapter = SimulatedDeviceAdapter(SimulatedDevice(flash: .init(failingTries: [1, 3]), boot: .init(failingTries: [2])))

        var flashes: [DeviceOutcome] = []
        var boots: [DeviceOutcome] = []
        for number in 1...4 {
            flashes.append(try await adapter.flash(image: nil, options: [], try: number))
            boots.append(try await adapter.boot(try: number))
        }

        #expect(
            flashes == [
                .failed("simulated flash failure on try 1"), .ok, .failed("simulated flash failure on try 3"), .ok,
            ])
        #expect(boots == [.ok, .failed("simulated boot failure on try 2"), .ok, .ok])
    }

    @Test func aFailureProbabilityOfOneFailsEveryTry() async throws {
        let adapter = SimulatedDeviceAdapter(
            SimulatedDevice(flash: .init(failureProbability: 1), boot: .init(failureProbability: 1), seed: 99))

        let outcomes = try await Self.outcomes(adapter, tries: 10)

        #expect(outcomes.allSatisfy { !$0.succeeded })
    }

    @Test func theSameSeedGivesTheSameOutcomes() async throws {
        let device = SimulatedDevice(flash: .init(failureProbability: 0.5), boot: .init(failureProbability: 0.5), seed: 42)

        let first = try await Self.outcomes(SimulatedDeviceAdapter(device), tries: 20)
        let second = try await Self.outcomes(SimulatedDeviceAdapter(device), tries: 20)
        var reseeded = device
        reseeded.seed = 7
        let other = try await Self.outcomes(SimulatedDeviceAdapter(reseeded), tries: 20)

        #expect(first == second)
        #expect(first.contains { $0.succeeded } && first.contains { !$0.succeeded })
        #expect(other != first)
    }

    @Test func triesCoverTheFailingTries() async throws {
        let plain = SimulatedDeviceAdapter(SimulatedDevice())
        #expect(plain.flashTries == 3)
        #expect(plain.bootTries == 3)

        let adapter = SimulatedDeviceAdapter(
            SimulatedDevice(flash: .init(failingTries: [1, 2, 3, 4, 5]), boot: .init(failingTries: [4])))
        #expect(adapter.flashTries == 6)
        #expect(adapter.bootTries == 5)

        var flashes: [Bool] = []
        for number in 1...adapter.flashTries {
            flashes.append(try await adapter.flash(image: nil, options: [], try: number).succeeded)
        }
        #expect(flashes == [false, false, false, false, false, true])
        var boots: [Bool] = []
        for number in 1...adapter.bootTries {
            boots.append(try await adapter.boot(try: number).succeeded)
        }
        #expect(boots == [true, true, true, false, true])
    }
}
