import PropertyBased

/// A generator's random numbers, held in one place so that building a
/// value can draw from it in nested calls without passing `inout` around.
final class Dice {
    var rng: any SeededRandomNumberGenerator

    init(_ rng: any SeededRandomNumberGenerator) {
        self.rng = rng
    }

    /// A generator that builds its value with dice.
    static func generator<Value>(_ build: @escaping @Sendable (Dice) -> Value) -> Generator<Value, Shrink.None<Value>> {
        Generator { rng in
            let dice = Dice(rng)
            defer { rng = dice.rng }
            return build(dice)
        }
    }

    func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
    func bool() -> Bool { Bool.random(using: &rng) }
    func one<C: Collection>(of values: C) -> C.Element { values.randomElement(using: &rng)! }
    func draw<Value>(_ generator: Generator<Value, some Sequence>) -> Value { generator.run(using: &rng) }

    /// A value half of the time.
    func maybe<Value>(_ make: () -> Value) -> Value? { bool() ? make() : nil }

    /// `count` values.
    func some<Value>(_ count: ClosedRange<Int>, _ make: (Int) -> Value) -> [Value] { (0..<int(count)).map(make) }
}
