import Foundation
import OTSTestSupport
import Testing

/// `ots run` and `ots validate` as users and scripts meet them: a real
/// process, real files, testrunner-lite's exit codes.
@Suite(.timeLimit(.minutes(10))) struct RunCommandTests {
    @Test func aCompletedRunExitsZeroWhateverTheVerdictsAndWritesValidResults() async throws {
        let work = try Workspace()
        _ = try work.copyFixture("package.xml")
        let result = try await OTSBinary.run(
            ["run", "-a", "-f", "package.xml", "-o", "results.xml", "--junit", "junit.xml"],
            in: work.path
        )
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("3 cases: 1 passed, 2 failed, 0 N/A; results in results.xml"))
        // -a leaves the manual case out of every report.
        #expect(!(try work.read("results.xml")).contains(#"name="manual""#))
        #expect(try await ResultsSchema.problems(in: work.file("results.xml")) == nil)

        let xml = try work.read("results.xml")
        #expect(xml.contains(#"<testresults version="1.0" environment="hardware""#))
        #expect(
            xml.contains(
                #"<case name="passes" timeout="90" manual="false" insignificant="false" domain="demo" feature="shell" result="PASS" TC_ID="EX-1">"#
            ))
        #expect(xml.contains(#"result="FAIL" failure_info="return code 1, expected 0""#))
        #expect(xml.contains("<stderr>broken\n</stderr>"))
        #expect(xml.contains(#"<step command="true" result="N/A" manual="false">"#))
        #expect(xml.contains(#"<pre_steps timeout="180">"#))

        let junit = try work.read("junit.xml")
        #expect(junit.contains(#"<testsuites name="ots" tests="3" failures="1" errors="0" skipped="1""#))
        #expect(!junit.contains(#"name="manual""#))
        #expect(junit.contains(#"<testcase classname="example.basics" name="fails""#))
        #expect(junit.contains(#"<skipped message="insignificant case failed: return code 1, expected 0"/>"#))
    }

    @Test func textFormat() async throws {
        let work = try Workspace()
        _ = try work.copyFixture("package.xml")
        let result = try await OTSBinary.run(["run", "-a", "-H", "-r", "text", "-f", "package.xml", "-o", "results.txt"], in: work.path)
        #expect(result.status == 0)
        let text = try work.read("results.txt")
        #expect(text.hasPrefix("Test results:\n  environment : hardware\n  hwproduct   : unknown\n  hwbuild     : unknown\n"))
        #expect(text.contains("    Test case name  : fails\n"))
        #expect(text.contains("      result        : FAIL (return code 1, expected 0)\n"))
        #expect(text.contains("      Test step       : echo hello\n"))
        #expect(text.hasSuffix("End of test results.\n"))
    }

    @Test func verboseModesPrintCasesAndSteps() async throws {
        let work = try Workspace()
        _ = try work.copyFixture("package.xml")
        let quiet = try await OTSBinary.run(["run", "-a", "-H", "-f", "package.xml", "-o", "r.xml"], in: work.path)
        #expect(quiet.stdout.isEmpty)
        let one = try await OTSBinary.run(["run", "-a", "-H", "-v", "-f", "package.xml", "-o", "r.xml"], in: work.path)
        #expect(one.stdout.contains(" Test set: basics\n"))
        #expect(one.stdout.contains(" Finished test case fails Result: FAIL (return code 1, expected 0)\n"))
        #expect(one.stdout.contains(" Executed 3 cases. Passed 1 Failed 2\n"))
        #expect(one.stdout.hasPrefix("[INFO] "))
        #expect(!one.stdout.contains("STEP: echo hello"))
        let two = try await OTSBinary.run(["run", "-a", "-H", "-vv", "-f", "package.xml", "-o", "r.xml"], in: work.path)
        #expect(two.stdout.contains("[DEBUG] "))
        #expect(two.stdout.contains("STEP: echo hello return 0 expected 0 result PASS\nhello\n"))
    }

    @Test func filterSelectsCases() async throws {
        let work = try Workspace()
        _ = try work.copyFixture("package.xml")
        let result = try await OTSBinary.run(
            ["run", "-a", "-H", "-l", "-testcase=fails,flaky", "-f", "package.xml", "-o", "r.xml"],
            in: work.path
        )
        #expect(result.status == 0)
        let xml = try work.read("r.xml")
        #expect(xml.contains(#"name="passes""#))
        #expect(!xml.contains(#"name="fails""#))
        #expect(!xml.contains(#"name="flaky""#))
    }

    @Test(arguments: [
        (["run", "-o", "r.xml"], "mandatory option missing -f input_file"),
        (["run", "-f", "package.xml"], "mandatory option missing -o output_file"),
        (["run", "-f", "package.xml", "-o", "r.xml", "-a", "-m"], "-a and -m are mutually exclusive"),
        (["run", "-f", "package.xml", "-o", "r.xml", "-l", "colour=red"], "unknown key 'colour'"),
        (["run", "-f", "package.xml", "-o", "r.xml", "-t", "host:99999"], "port '99999' is not a number from 1 to 65535"),
        (["run", "-f", "package.xml", "-o", "r.xml", "-t", "host", "-E", "ssh host"], "-t and -E/-G are mutually exclusive"),
        (["run", "-f", "package.xml", "-o", "r.xml", "-E", "ssh 'host"], "-E 'ssh 'host': unbalanced quote"),
        (["run", "-f", "package.xml", "-o", "r.xml", "-r", "html"], "The value 'html' is invalid for '-r <format>'"),
        (["run", "-f", "package.xml", "-o", "r.xml", "-C", "/nonexistent"], "could not stat folder '/nonexistent'"),
        (["run", "-f", "missing.xml", "-o", "r.xml"], "cannot read the test definition missing.xml: no such file"),
        (["run", "-f", "package.xml", "-o", "r.xml", "--no-such-option"], "Unknown option '--no-such-option'"),
        (["run", "-f", "package.xml", "-o", "r.xml", "--logid", "run-42"], "invalid char '-' in logid argument"),
        (["run", "-f", "package.xml", "-o", "r.xml", "--utf8-limit", "5"], "Invalid value for option utf8-limit"),
        (["run", "-f", "package.xml", "-o", "r.xml", "-T", "soon"], "Invalid value for option -T"),
        (["run", "-f", "package.xml", "-o", "r.xml", "-Rlater"], "invalid argument value: later"),
    ])
    func invalidArgumentsExitOneAndWriteNothing(arguments: [String], message: String) async throws {
        let work = try Workspace()
        _ = try work.copyFixture("package.xml")
        let result = try await OTSBinary.run(arguments, in: work.path)
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stderr.contains(message), "\(result.stderr)")
        #expect(try work.contents() == ["package.xml"])
        #expect(result.stderr.split(separator: "\n").count <= 4, "one clear message: \(result.stderr)")
    }

    @Test func theOutputFolderIsCreated() async throws {
        let work = try Workspace()
        _ = try work.copyFixture("package.xml")
        let result = try await OTSBinary.run(["run", "-a", "-H", "-f", "package.xml", "-o", "deep/er/r.xml"], in: work.path)
        #expect(result.status == 0)
        #expect(work.exists("deep/er/r.xml"))
    }

    @Test(.enabled(if: getuid() != 0, "root can write anywhere"))
    func anUncreatableOutputFolderExitsFive() async throws {
        let work = try Workspace()
        _ = try work.copyFixture("package.xml")
        let result = try await OTSBinary.run(["run", "-a", "-f", "package.xml", "-o", "/proc/ots/r.xml"], in: work.path)
        #expect(result.status == 5)
    }

    @Test func anOutputThatIsAFolderExitsSevenAndRunsNothing() async throws {
        let work = try Workspace()
        try work.write(
            "touch.xml",
            #"<testdefinition version="1.0"><suite name="s"><set name="t"><case name="c"><step>touch ran</step></case></set></suite></testdefinition>"#
        )
        try FileManager.default.createDirectory(atPath: work.file("out.xml"), withIntermediateDirectories: true)
        let result = try await OTSBinary.run(["run", "-a", "-f", "touch.xml", "-o", "out.xml"], in: work.path)
        #expect(result.status == 7)
        #expect(result.stderr.contains("it is a folder"))
        #expect(!work.exists("ran"))
    }

    @Test func anUnreachableTargetExitsTwoAndWritesNothing() async throws {
        let work = try Workspace()
        _ = try work.copyFixture("package.xml")
        let port = try closedPort()
        let result = try await OTSBinary.run(
            ["run", "-a", "-t", "nobody@127.0.0.1:\(port)", "-f", "package.xml", "-o", "r.xml"], in: work.path)
        #expect(result.status == 2)
        #expect(result.stderr.hasPrefix("ots run: cannot reach the target nobody@127.0.0.1:\(port)"))
        #expect(!work.exists("r.xml"))
    }

    @Test(arguments: [
        ("malformed.xml", 3, "malformed.xml:6:"),
        ("unknown-element.xml", 4, "unknown-element.xml:5:7: unknown element <testcase> in <set>"),
    ])
    func aDefinitionThatDoesNotParseOrBreaksTheSchemaIsRejected(file: String, status: Int32, message: String) async throws {
        let work = try Workspace()
        _ = try work.copyFixture(file)
        let result = try await OTSBinary.run(["run", "-f", file, "-o", "r.xml"], in: work.path)
        #expect(result.status == status)
        #expect(result.stderr.contains(message), "\(result.stderr)")
        #expect(!work.exists("r.xml"))
    }

    @Test func aSemanticallyInvalidDefinitionExitsFourWithS() async throws {
        let work = try Workspace()
        _ = try work.copyFixture("semantic.xml")
        let strict = try await OTSBinary.run(["run", "-s", "-f", "semantic.xml", "-o", "r.xml"], in: work.path)
        #expect(strict.status == 4)
        #expect(strict.stderr.contains("semantic.xml:4:5: type 'Smoke' of set 't' is not one of"))
        #expect(!work.exists("r.xml"))
        let plain = try await OTSBinary.run(["run", "-a", "-H", "-f", "semantic.xml", "-o", "r.xml"], in: work.path)
        #expect(plain.status == 0)
        #expect(work.exists("r.xml"))
    }

    @Test func validateOnlyRunsNothing() async throws {
        let work = try Workspace()
        try work.write(
            "touch.xml",
            #"<testdefinition version="1.0"><suite name="s"><set name="t"><case name="c"><step>touch ran</step></case></set></suite></testdefinition>"#
        )
        let result = try await OTSBinary.run(["run", "-A", "-f", "touch.xml"], in: work.path)
        #expect(result.status == 0)
        #expect(result.stdout == "touch.xml validates\n")
        #expect(!work.exists("ran"))
        #expect(!work.exists("r.xml"))
    }

    @Test func ciModeTurnsSchemaProblemsIntoWarnings() async throws {
        let work = try Workspace()
        _ = try work.copyFixture("lenient.xml")
        let strict = try await OTSBinary.run(["run", "-a", "-H", "-f", "lenient.xml", "-o", "r.xml"], in: work.path)
        #expect(strict.status == 4)
        let lenient = try await OTSBinary.run(["run", "-a", "-H", "-c", "-f", "lenient.xml", "-o", "r.xml"], in: work.path)
        #expect(lenient.status == 0)
        #expect(lenient.stderr.contains("warning: lenient.xml:3:3: unknown attribute 'owner' on <suite>"))
        #expect(work.exists("r.xml"))
    }

    @Test func validateChecksEveryFile() async throws {
        let work = try Workspace()
        for name in ["package.xml", "malformed.xml", "unknown-element.xml", "semantic.xml"] {
            _ = try work.copyFixture(name)
        }
        let good = try await OTSBinary.run(["validate", "package.xml"], in: work.path)
        #expect(good.status == 0)
        #expect(good.stdout == "package.xml validates\n")
        let bad = try await OTSBinary.run(["validate", "package.xml", "malformed.xml", "unknown-element.xml"], in: work.path)
        #expect(bad.status == 4)
        #expect(bad.stderr.contains("unknown-element.xml:5:7: unknown element <testcase> in <set>"))
        #expect(bad.stderr.contains("malformed.xml:6:"))
        let semantic = try await OTSBinary.run(["validate", "--semantic", "semantic.xml"], in: work.path)
        #expect(semantic.status == 4)
    }

    private func closedPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// Interrupting `ots run` stops the running step's processes and writes the
/// results of what ran.
@Suite(.timeLimit(.minutes(10))) struct RunInterruptTests {
    @Test func sigintStopsTheStepAndWritesResults() async throws {
        let work = try Workspace()
        try work.write(
            "slow.xml",
            #"<testdefinition version="1.0"><suite name="s"><set name="t"><case name="slow"><step>touch started; sleep 60 &amp; echo $! &gt; child; wait</step></case><case name="next"><step>touch never</step></case></set></suite></testdefinition>"#
        )
        let task = Task { try await OTSBinary.run(["run", "-a", "-H", "-f", "slow.xml", "-o", "r.xml"], in: work.path) }
        try await eventually("the step to start its child", every: .milliseconds(20)) { work.exists("child") }
        let ots = try #require(OTSBinary.pids(in: work.path).first)
        kill(ots, SIGINT)
        let result = try await task.value
        #expect(result.status == 130)
        #expect(!work.exists("never"))
        let xml = try work.read("r.xml")
        #expect(xml.contains(#"failure_info="interrupted while it ran""#))
        #expect(xml.contains(#"failure_info="interrupted before it ran""#))
        let child = try #require(Int32(try work.read("child").trimmingCharacters(in: .whitespacesAndNewlines)))
        try await eventually("the step's child to be gone", within: .seconds(2), every: .milliseconds(20)) { kill(child, 0) != 0 }
    }
}
