import Foundation
import PropertyBased
import Testing

/// How many cases each property test tries, and from which seed.
///
/// CI runs a fixed number of cases from a fixed seed, so every run tries the
/// same inputs in a few seconds. `OTS_FUZZ_ITERATIONS` runs more cases and
/// `OTS_FUZZ_SEED` other ones, locally:
///
///     OTS_FUZZ_ITERATIONS=20000 OTS_FUZZ_SEED=7 swift test --filter PropertyTests
///
/// Each case draws from its own generator, seeded by the seed, the
/// property's name and the case's number, so a failure names the one case
/// to run again, whatever the budget.
struct FuzzBudget: Sendable {
    static let defaultIterations = 100
    static let defaultSeed: UInt64 = 20_261_129

    var iterations: Int
    var seed: UInt64

    /// The budget in the environment, or why it is wrong.
    static func from(_ environment: [String: String]) -> Result<FuzzBudget, BudgetError> {
        var budget = FuzzBudget(iterations: defaultIterations, seed: defaultSeed)
        if let text = environment["OTS_FUZZ_ITERATIONS"], !text.isEmpty {
            guard let value = Int(text), value > 0 else {
                return .failure(BudgetError(description: "OTS_FUZZ_ITERATIONS: '\(text)' is not a positive integer"))
            }
            budget.iterations = value
        }
        if let text = environment["OTS_FUZZ_SEED"], !text.isEmpty {
            guard let value = UInt64(text) else {
                return .failure(BudgetError(description: "OTS_FUZZ_SEED: '\(text)' is not an integer from 0 to \(UInt64.max)"))
            }
            budget.seed = value
        }
        return .success(budget)
    }

    struct BudgetError: Error, CustomStringConvertible {
        var description: String
    }

    /// The generator for one case of one property.
    func generator(property: String, case index: Int) -> Xoshiro {
        // FNV-1a: a name hash that is the same in every process (Hasher is not).
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in property.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        var state = seed ^ hash ^ (UInt64(index) &* 0x9e37_79b9_7f4a_7c15)
        func splitMix() -> UInt64 {
            state &+= 0x9e37_79b9_7f4a_7c15
            var z = state
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            return z ^ (z >> 31)
        }
        return Xoshiro(seed: (splitMix(), splitMix(), splitMix(), splitMix()))
    }
}

/// A property that does not hold, with what was seen.
struct PropertyFailure: Error, CustomStringConvertible {
    var description: String
}

/// Fails the case unless `condition` holds.
func require(_ condition: Bool, _ message: @autoclosure () -> String) throws(PropertyFailure) {
    if !condition { throw PropertyFailure(description: message()) }
}

/// Checks `property` on the budget's cases of `input`; records the first
/// case that fails, with its input and how to run it again, and stops.
///
/// `describe` turns an input into the text of the report (the mutations
/// applied, say, rather than a whole document).
func fuzz<Value>(
    _ name: String,
    _ input: Generator<Value, some Sequence>,
    describe: (Value) -> String = { String(describing: $0) },
    sourceLocation: Testing.SourceLocation = #_sourceLocation,
    _ property: (Value) throws -> Void
) {
    let budget: FuzzBudget
    switch FuzzBudget.from(ProcessInfo.processInfo.environment) {
    case .success(let value): budget = value
    case .failure(let error):
        Issue.record("\(error)", sourceLocation: sourceLocation)
        return
    }
    for index in 0..<budget.iterations {
        var rng = budget.generator(property: name, case: index)
        let value = input.run(using: &rng)
        do {
            try property(value)
        } catch {
            var shown = describe(value)
            if shown.count > 2000 { shown = String(shown.prefix(2000)) + "… (\(shown.count) characters)" }
            Issue.record(
                """
                property '\(name)' failed on case \(index) of seed \(budget.seed) \
                (run it again with OTS_FUZZ_SEED=\(budget.seed) OTS_FUZZ_ITERATIONS=\(index + 1)):
                \(error)
                input: \(shown)
                """,
                sourceLocation: sourceLocation
            )
            return
        }
    }
}
