import OTSCore
import Testing

@Suite struct BackoffTests {
    @Test func doublesUpToTheCap() {
        var backoff = Backoff(initial: .milliseconds(200))
        let waits = (0..<8).map { _ in backoff.next() }
        #expect(
            waits == [
                .milliseconds(200), .milliseconds(400), .milliseconds(800), .milliseconds(1600), .milliseconds(3200),
                .seconds(5), .seconds(5), .seconds(5),
            ])
    }

    @Test func aSuccessStartsOverFromTheFirstWait() {
        var backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(1))
        _ = backoff.next()
        _ = backoff.next()
        #expect(backoff.current == .milliseconds(400))
        backoff.reset()
        #expect(backoff.next() == .milliseconds(100))
        #expect(backoff.next() == .milliseconds(200))
    }

    @Test func aCapBelowTheFirstWaitIsTheFirstWait() {
        var backoff = Backoff(initial: .seconds(10), maximum: .seconds(5))
        #expect(backoff.maximum == .seconds(10))
        #expect(backoff.next() == .seconds(10))
        #expect(backoff.next() == .seconds(10))
    }

    @Test func aCapThatIsNotAPowerOfTwoOfTheFirstWaitIsReachedExactly() {
        var backoff = Backoff(initial: .milliseconds(300), maximum: .seconds(1))
        #expect(
            [backoff.next(), backoff.next(), backoff.next(), backoff.next()] == [
                .milliseconds(300), .milliseconds(600), .seconds(1), .seconds(1),
            ])
    }
}
