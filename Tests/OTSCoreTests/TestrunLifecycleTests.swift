import Testing

@testable import OTSCore

@Suite struct TestrunLifecycleTests {
    let pass = VerdictRules.Decision(verdict: .pass, errorCategory: nil, message: nil)

    @Test func queuedThenRunningThenFinished() {
        var testrun = TestrunLifecycle()
        #expect(testrun.handle(.taskStarted) == .transition)
        #expect(testrun.state == .running)
        #expect(testrun.handle(.taskStarted) == .ignore)
        #expect(testrun.handle(.tasksEnded(pass)) == .transition)
        #expect(testrun.state == .finished(pass))
    }

    @Test func cancellingCancelsTheTasksOnce() {
        var testrun = TestrunLifecycle(state: .running)
        #expect(testrun.handle(.cancel) == .transitionAndCancelTasks)
        #expect(testrun.state == .cancelled)
        #expect(testrun.handle(.cancel) == .ignore)
        #expect(testrun.handle(.tasksEnded(pass)) == .ignore)
        #expect(testrun.state == .cancelled)
    }

    @Test func theGlobalTimeoutIsAnInfrastructureError() {
        var testrun = TestrunLifecycle()
        #expect(testrun.handle(.timeout(seconds: 7200)) == .transitionAndCancelTasks)
        #expect(
            testrun.state
                == .finished(.init(verdict: .error, errorCategory: .infrastructure, message: "the testrun timed out after 7200 s"))
        )
        #expect(testrun.handle(.taskStarted) == .ignore)
    }
}
