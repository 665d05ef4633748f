import Foundation
import Logging
import OTSCore
import OTSStore

extension Farm {
    /// How often a wait for a testrun's end looks again without being
    /// woken: for ends that another server replica decides.
    static let endPoll: Duration = .seconds(10)

    /// Waits until the testrun has ended and returns it; nil when
    /// `waiting` turns false first (the caller has gone). Woken when this
    /// server ends a testrun, it looks every `endPoll` otherwise; it has no
    /// time limit of its own, since the testrun's timeout ends the testrun.
    /// A store that is away is waited for.
    public func waitForEnd(testrunID: String, while waiting: @Sendable () -> Bool) async throws -> TestrunView? {
        var backoff = Backoff(initial: .milliseconds(500), maximum: Self.endPoll)
        while true {
            let generation = ended.generation
            do {
                let view = try await testrun(id: testrunID)
                if view.isEnded { return view }
                backoff.reset()
            } catch let error as DomainError {
                throw error
            } catch {
                if Task.isCancelled { throw CancellationError() }
                logger.warning("waiting for testrun \(testrunID) to end: \(error); looking again")
                try await Task.sleep(for: backoff.next())
                continue
            }
            guard waiting() else { return nil }
            try Task.checkCancellation()
            await ended.wait(after: generation, upTo: Self.endPoll)
        }
    }
}
