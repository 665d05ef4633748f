import OTSCore

/// The built-in simulated device: flashing and booting take configured
/// times and fail with configured probabilities (or on given tries), from a
/// seed, so a demo, a test or a load benchmark behaves the same every time.
/// Its test steps still really run, on the worker's host.
public struct SimulatedDevice: Sendable, Hashable, Codable {
    public struct Phase: Sendable, Hashable, Codable {
        /// How long one try takes, in seconds.
        public var seconds: Double
        /// The chance that a try fails, 0 to 1.
        public var failureProbability: Double
        /// Tries (1-based) that fail whatever the probability.
        public var failingTries: [Int]

        public init(seconds: Double = 0, failureProbability: Double = 0, failingTries: [Int] = []) {
            self.seconds = seconds
            self.failureProbability = failureProbability
            self.failingTries = failingTries
        }

        enum CodingKeys: String, CodingKey {
            case seconds
            case failureProbability = "failure_probability"
            case failingTries = "failing_tries"
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            seconds = try container.decodeIfPresent(Double.self, forKey: .seconds) ?? 0
            failureProbability = try container.decodeIfPresent(Double.self, forKey: .failureProbability) ?? 0
            failingTries = try container.decodeIfPresent([Int].self, forKey: .failingTries) ?? []
        }

        func problems(_ name: String) -> [String] {
            var problems: [String] = []
            if !(seconds >= 0 && seconds <= 86_400) { problems.append("\(name).seconds must be from 0 to 86400") }
            if !(failureProbability >= 0 && failureProbability <= 1) {
                problems.append("\(name).failure_probability must be from 0 to 1")
            }
            if failingTries.contains(where: { $0 < 1 }) { problems.append("\(name).failing_tries counts tries from 1") }
            return problems
        }
    }

    public var flash: Phase
    public var boot: Phase
    public var seed: UInt64

    public init(flash: Phase = Phase(), boot: Phase = Phase(), seed: UInt64 = 1) {
        self.flash = flash
        self.boot = boot
        self.seed = seed
    }

    /// Problems with the configuration, each naming its field.
    public var problems: [String] { flash.problems("flash") + boot.problems("boot") }

    /// The outcomes of one device's tries, drawn from its seed.
    public struct Behaviour: Sendable {
        private var random: SplitMix64
        private let device: SimulatedDevice

        public init(_ device: SimulatedDevice) {
            self.device = device
            self.random = SplitMix64(seed: device.seed)
        }

        /// Whether flash try `number` (from 1) succeeds.
        public mutating func flashSucceeds(try number: Int) -> Bool {
            succeeds(device.flash, try: number)
        }

        /// Whether boot try `number` (from 1) succeeds.
        public mutating func bootSucceeds(try number: Int) -> Bool {
            succeeds(device.boot, try: number)
        }

        private mutating func succeeds(_ phase: Phase, try number: Int) -> Bool {
            // Always draw, so one phase's settings do not shift the other's.
            let draw = Double(random.next() >> 11) / Double(1 << 53)
            if phase.failingTries.contains(number) { return false }
            return draw >= phase.failureProbability
        }
    }
}
