import Foundation
import OTSTestSupport
import Testing

@testable import TestRunner

@Suite(.timeLimit(.minutes(5))) struct CommandRunnerTests {
    let scratch: TemporaryDirectory
    let runner: CommandRunner

    init() throws {
        scratch = try TemporaryDirectory()
        runner = CommandRunner(scratchDirectory: scratch.path, inlineLimit: 1024)
    }

    @Test func capturesExitCodeAndBothStreams() async throws {
        let outcome = try await runner.run(["/bin/sh", "-c", "echo out; echo err >&2; exit 3"], timeout: .seconds(30))
        #expect(outcome.termination == .exited(3))
        #expect(outcome.stdout.text == "out\n")
        #expect(outcome.stderr.text == "err\n")
        #expect(!outcome.timedOut)
        #expect(outcome.end >= outcome.start)
    }

    @Test func backgroundChildHoldingOutputDoesNotDelayTheStep() async throws {
        // The child keeps the step's output open for five minutes.
        let outcome = try await runner.run(["/bin/sh", "-c", "sleep 300 & echo $!"], timeout: .seconds(600))
        let child = try #require(Int32(outcome.stdout.text.trimmingCharacters(in: .whitespacesAndNewlines)))
        defer { kill(child, SIGKILL) }
        #expect(outcome.termination == .exited(0))
        #expect(!outcome.timedOut)
        // The step ended while its background child still ran: the runner
        // did not wait for the child's end (or for its timeout).
        #expect(kill(child, 0) == 0 && !isZombie(child))
    }

    @Test func timeoutKillsTheWholeProcessGroup() async throws {
        let marker = scratch.path + "/child.pid"
        let outcome = try await runner.run(
            ["/bin/sh", "-c", "sleep 60 & echo $! > \(marker); wait"],
            timeout: .milliseconds(500)
        )
        #expect(outcome.timedOut)
        // SIGTERM first; SIGKILL only for what outlives the grace period.
        #expect(outcome.termination == .signalled(SIGTERM))
        let childPID = try #require(Int32(String(contentsOfFile: marker, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        // The background child was in the group and is gone too (allow the
        // kernel a moment to reap it).
        try await eventually("the background child to be gone", within: .seconds(1), every: .milliseconds(20)) {
            kill(childPID, 0) != 0 || isZombie(childPID)
        }
    }

    @Test func whatIgnoresSIGTERMIsKilledAfterTheGrace() async throws {
        let quick = CommandRunner(scratchDirectory: scratch.path, inlineLimit: 1024, killGrace: .milliseconds(300))
        let outcome = try await quick.run(["/bin/sh", "-c", "trap '' TERM; while true; do sleep 0.05; done"], timeout: .milliseconds(300))
        #expect(outcome.timedOut)
        #expect(outcome.termination == .signalled(SIGKILL))
    }

    @Test func longOutputOverflowsToAFileThatKeepsAllOfIt() async throws {
        let outcome = try await runner.run(["/bin/sh", "-c", "head -c 5000 /dev/zero | tr '\\0' x"], timeout: .seconds(30))
        #expect(outcome.stdout.head.count == 1024)
        #expect(outcome.stdout.totalBytes == 5000)
        let file = try #require(outcome.stdout.overflowFile)
        #expect(try Data(contentsOf: URL(fileURLWithPath: file)).count == 5000)
    }

    @Test func invalidUTF8BecomesReplacementCharactersAndTheRawBytesAreKept() async throws {
        let outcome = try await runner.run(["/bin/sh", "-c", "printf 'a\\377b'"], timeout: .seconds(30))
        #expect(outcome.stdout.text == "a\u{FFFD}b")
        #expect(!outcome.stdout.isValidUTF8)
        let file = try #require(outcome.stdout.overflowFile)
        #expect(try Data(contentsOf: URL(fileURLWithPath: file)) == Data([0x61, 0xFF, 0x62]))
    }

    @Test func missingExecutableThrows() async throws {
        await #expect(throws: (any Error).self) {
            _ = try await runner.run(["/nonexistent/program"], timeout: .seconds(5))
        }
    }

    private func isZombie(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
        guard let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(close, offsetBy: 2)] == "Z"
    }
}
