import Testing

@testable import OTSMonitor

/// A quiet store is looked at less and less often, down to a fifth of the
/// poll rate; anything found brings the poll interval back.
@Suite struct IdlePollingTests {
    @Test func looksThatFindNothingWaitTwiceAsLongUpToFiveTimesTheInterval() {
        var polling = IdlePolling(seconds: 0.2)
        let waits = (0..<6).map { _ in polling.wait(found: 0) }
        #expect(waits == [.milliseconds(200), .milliseconds(400), .milliseconds(800), .seconds(1), .seconds(1), .seconds(1)])
    }

    @Test func aLookThatFindsSomethingWaitsTheIntervalAndStartsOver() {
        var polling = IdlePolling(seconds: 0.2)
        _ = polling.wait(found: 0)
        _ = polling.wait(found: 0)
        _ = polling.wait(found: 0)
        #expect(polling.wait(found: 3) == .milliseconds(200))
        #expect(polling.wait(found: 0) == .milliseconds(200))
        #expect(polling.wait(found: 0) == .milliseconds(400))
    }
}
