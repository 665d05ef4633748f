import OTSCore

/// How long a loop that polls the store waits before it looks again: the
/// poll interval after a look that found something, twice as long after
/// each look that found nothing, up to five times the interval. A quiet
/// farm is thus looked at a fifth as often (once a second by default),
/// and the first event after a quiet spell waits at most that long: a
/// `Backoff` from the interval to five times it.
struct IdlePolling: Sendable, Hashable {
    /// The wait after a look that found something.
    let interval: Duration
    /// The longest wait, while looks find nothing.
    var longest: Duration { interval * 5 }
    private var backoff: Backoff

    init(interval: Duration) {
        self.interval = interval
        self.backoff = Backoff(initial: interval, maximum: interval * 5)
    }

    init(seconds: Double) {
        self.init(interval: .milliseconds(Int64(seconds * 1000)))
    }

    /// The wait after a look that found `found` things.
    mutating func wait(found: Int) -> Duration {
        guard found == 0 else {
            backoff.reset()
            return interval
        }
        return backoff.next()
    }
}
