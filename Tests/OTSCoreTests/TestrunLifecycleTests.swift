import Testing

@testable import OTSCore

@Suite struct TestrunLifecycleTests {
    let pass = VerdictRules.Decision(verdict: .pass, errorCategory: nil, message: nil)

    @Test func queuedThenRunningThenFinished() {
        var testrun = TestrunLifecycle()
        let start = testrun.handle(.taskStarted)
        #expect(start.write == .start)
        #expect(start.events.map(\.type) == [.testrunStarted])
        #expect(testrun.state == .running)
        #expect(testrun.handle(.taskStarted).isIgnored)
        let end = testrun.handle(.tasksEnded(pass, errorIsNew: true))
        #expect(end.write == .end)
        #expect(end.events.map(\.type) == [.testrunFinished])
        #expect(end.events.first?.verdict == .pass)
        #expect(testrun.state == .finished(pass))
        #expect(testrun.state.stored == .finished)
    }

    @Test func onlyAnErrorOfTheTestrunsOwnIsANewFailure() {
        let missing = VerdictRules.Decision(verdict: .error, errorCategory: .test, message: "no results for package p")
        var own = TestrunLifecycle(state: .running)
        #expect(own.handle(.tasksEnded(missing, errorIsNew: true)).events.map(\.type) == [.failure, .testrunFinished])
        var told = TestrunLifecycle(state: .running)
        let end = told.handle(.tasksEnded(missing, errorIsNew: false))
        #expect(end.events.map(\.type) == [.testrunFinished], "a task's error was told where it happened")
        #expect(end.events.first?.error?.category == .test)
    }

    @Test func cancellingCancelsTheTasksOnce() {
        var testrun = TestrunLifecycle(state: .running)
        let cancel = testrun.handle(.cancel)
        #expect(cancel.write == .end)
        #expect(cancel.cancelTasks)
        #expect(cancel.events.map(\.type) == [.testrunCancelled])
        #expect(testrun.state == .cancelled)
        let again = testrun.handle(.cancel)
        #expect(again.write == nil)
        #expect(again.rejection == "has ended (cancelled)")
        #expect(testrun.handle(.tasksEnded(pass, errorIsNew: true)).isIgnored)
        #expect(testrun.state == .cancelled)
    }

    @Test func theGlobalTimeoutIsAnInfrastructureError() {
        var testrun = TestrunLifecycle()
        let timeout = testrun.handle(.timeout(seconds: 7200))
        #expect(timeout.write == .end)
        #expect(timeout.cancelTasks)
        #expect(timeout.events.map(\.type) == [.testrunTimedOut, .failure, .testrunFinished])
        #expect(timeout.events.allSatisfy { $0.error?.message == "the testrun timed out after 7200 s" })
        #expect(
            testrun.state
                == .finished(.init(verdict: .error, errorCategory: .infrastructure, message: "the testrun timed out after 7200 s"))
        )
        #expect(testrun.handle(.taskStarted).isIgnored)
    }
}
