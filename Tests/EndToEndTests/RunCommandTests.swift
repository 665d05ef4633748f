import Foundation
import Testing

/// `ots run` and `ots validate` as users and scripts meet them: a real
/// process, real files, testrunner-lite's exit codes.
@Suite struct RunCommandTests {
    @Test func aCompletedRunExitsZeroWhateverTheVerdictsAndWritesValidResults() async throws {
        let work = try Workspace()
        _ = try work.copyFixture("package.xml")
        let result = try await OTSBinary.run(
            ["run", "-a", "-f", "package.xml", "-o", "results.xml", "--junit", "junit.xml"],
            in: work.path
        )
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("4 cases: 1 passed, 2 failed, 1 N/A; results in results.xml"))
        #expect(try await ResultsSchema.problems(in: work.file("results.xml")) == nil)

        let xml = try work.read("results.xml")
        #expect(xml.contains(#"<case name="passes" timeout="90" feature="shell" domain="demo" result="PASS" TC_ID="EX-1">"#))
        #expect(xml.contains(#"result="FAIL" failure_info="return code 1, expected 0""#))
        #expect(xml.contains("<stderr>broken\n</stderr>"))
        #expect(xml.contains(#"<step command="true" result="N/A">"#))

        let junit = try work.read("junit.xml")
        #expect(junit.contains(#"<testsuites name="ots" tests="4" failures="1" errors="0" skipped="2""#))
        #expect(junit.contains(#"<testcase classname="example.basics" name="fails""#))
        #expect(junit.contains(#"<skipped message="insignificant case failed: return code 1, expected 0"/>"#))
    }

    @Test func textFormat() async throws {
        let work = try Workspace()
        _ = try work.copyFixture("package.xml")
        let result = try await OTSBinary.run(["run", "-a", "-H", "-r", "text", "-f", "package.xml", "-o", "results.txt"], in: work.path)
        #expect(result.status == 0)
        let text = try work.read("results.txt")
        #expect(text.contains("    FAIL fails: return code 1, expected 0"))
        #expect(text.contains("    FAIL flaky (insignificant): return code 1, expected 0"))
        #expect(text.contains("4 cases: 1 passed, 2 failed, 1 N/A"))
    }

    @Test func verboseModesPrintCasesAndSteps() async throws {
        let work = try Workspace()
        _ = try work.copyFixture("package.xml")
        let one = try await OTSBinary.run(["run", "-a", "-H", "-v", "-f", "package.xml", "-o", "r.xml"], in: work.path)
        #expect(one.stderr.contains("set example/basics"))
        #expect(one.stderr.contains("  FAIL fails: return code 1, expected 0"))
        #expect(!one.stderr.contains("$ echo hello"))
        let two = try await OTSBinary.run(["run", "-a", "-H", "-vv", "-f", "package.xml", "-o", "r.xml"], in: work.path)
        #expect(two.stderr.contains("    PASS $ echo hello [rc 0]"))
        #expect(two.stderr.contains("      | hello"))
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
        (["run", "-o", "r.xml"], "give the test definition with -f FILE"),
        (["run", "-f", "package.xml", "-a", "-m"], "-a and -m exclude each other"),
        (["run", "-f", "package.xml", "-l", "colour=red"], "unknown key 'colour'"),
        (["run", "-f", "package.xml", "-t", "host:99999"], "port '99999' is not a number from 1 to 65535"),
        (["run", "-f", "package.xml", "-r", "html"], "html"),
        (["run", "-f", "package.xml", "-C", "/nonexistent"], "-C /nonexistent: no such folder"),
        (["run", "-f", "package.xml", "-o", "/nonexistent/dir/r.xml"], "cannot write the results to /nonexistent/dir/r.xml: no such folder /nonexistent/dir"),
    ])
    func invalidArgumentsExitOneAndWriteNothing(arguments: [String], message: String) async throws {
        let work = try Workspace()
        _ = try work.copyFixture("package.xml")
        let result = try await OTSBinary.run(arguments, in: work.path)
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stderr.contains(message), "\(result.stderr)")
        #expect(try work.contents() == ["package.xml"])
    }

    @Test func anUnreachableTargetExitsTwoAndWritesNothing() async throws {
        let work = try Workspace()
        _ = try work.copyFixture("package.xml")
        let port = try closedPort()
        let result = try await OTSBinary.run(["run", "-a", "-t", "nobody@127.0.0.1:\(port)", "-f", "package.xml", "-o", "r.xml"], in: work.path)
        #expect(result.status == 2)
        #expect(result.stderr.hasPrefix("ots run: cannot reach the target nobody@127.0.0.1:\(port)"))
        #expect(!work.exists("r.xml"))
    }

    @Test(arguments: [
        ("malformed.xml", 3, "malformed.xml:6:"),
        ("unknown-element.xml", 3, "unknown-element.xml:5:7: unknown element <testcase> in <set>"),
        ("missing.xml", 3, "missing.xml:0:0: cannot read the file: no such file"),
    ])
    func aDefinitionThatDoesNotParseExitsThree(file: String, status: Int32, message: String) async throws {
        let work = try Workspace()
        if file != "missing.xml" { _ = try work.copyFixture(file) }
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
        try work.write("touch.xml", #"<testdefinition version="1.0"><suite name="s"><set name="t"><case name="c"><step>touch ran</step></case></set></suite></testdefinition>"#)
        let result = try await OTSBinary.run(["run", "-A", "-f", "touch.xml", "-o", "r.xml"], in: work.path)
        #expect(result.status == 0)
        #expect(!work.exists("ran"))
        #expect(!work.exists("r.xml"))
    }

    @Test func ciModeTurnsSchemaProblemsIntoWarnings() async throws {
        let work = try Workspace()
        _ = try work.copyFixture("lenient.xml")
        let strict = try await OTSBinary.run(["run", "-a", "-H", "-f", "lenient.xml", "-o", "r.xml"], in: work.path)
        #expect(strict.status == 3)
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
        #expect(good.stdout == "package.xml: valid\n")
        let bad = try await OTSBinary.run(["validate", "package.xml", "malformed.xml", "unknown-element.xml"], in: work.path)
        #expect(bad.status == 3)
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
