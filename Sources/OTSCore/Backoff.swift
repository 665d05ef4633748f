/// Waits between tries of something that keeps failing: the first wait,
/// doubled after each failure up to a maximum, back to the first after a
/// success.
public struct Backoff: Sendable, Hashable {
    public let initial: Duration
    public let maximum: Duration
    /// The wait before the next try.
    public private(set) var current: Duration

    public init(initial: Duration, maximum: Duration = .seconds(5)) {
        self.initial = initial
        self.maximum = max(initial, maximum)
        self.current = initial
    }

    /// The wait before the next try, doubling the one after it.
    public mutating func next() -> Duration {
        let wait = current
        current = min(current * 2, maximum)
        return wait
    }

    /// After a success: the next failure waits the initial time again.
    public mutating func reset() {
        current = initial
    }
}
