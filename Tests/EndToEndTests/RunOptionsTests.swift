import Foundation
import OTSTestSupport
import Subprocess
import SystemPackage
import Testing

/// `ots run` with testrunner-lite's remaining options, as a script passes
/// them: a real process, a real HTTP logger, stand-ins for the device tools.
@Suite(.timeLimit(.minutes(10))) struct RunOptionsTests {
    /// A remote HTTP logger (Fixtures/http-log-receiver.py) on a loopback port.
    final class LogReceiver: Sendable {
        let port: Int
        let log: String
        let process: Process

        init(folder: String) throws {
            log = folder + "/http-log.jsonl"
            port = try SSHServer.freePort()
            process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [
                "python3", OTSBinary.repositoryRoot + "/Tests/EndToEndTests/Fixtures/http-log-receiver.py", String(port), log,
            ]
            try process.run()
        }

        /// Waits until the receiver accepts connections.
        func waitUntilListening() async throws {
            try await eventually("the HTTP log receiver to listen on \(port)", within: .seconds(10), every: .milliseconds(20)) {
                SSHServer.canConnect(port: port)
            }
        }

        struct Request: Decodable {
            var method: String
            var path: String
            var type: String?
            var body: String
        }

        var requests: [Request] {
            ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
                try? JSONDecoder().decode(Request.self, from: Data($0.utf8))
            }
        }

        deinit {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    static let python3 = FileManager.default.isExecutableFile(atPath: "/usr/bin/python3")

    /// Stand-ins for sp-rich-core (the target is this host) and hat_ctrl.
    static func tools(in work: Workspace) throws -> [String: String] {
        let bin = work.file("bin")
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: work.file("dumps"), withIntermediateDirectories: true)
        let scripts = [
            "rich-core-dumper": "exit 0",
            "sysctl": #"u=$(echo "$@" | sed 's/.*--tc-uuid=\([0-9a-f]*\).*/\1/'); echo "$u" > "$MARK/uuid"; echo "$u" >> "$MARK/uuids""#,
            "rich-core-find-uuid": #"ls "$1"*"$2"* >/dev/null 2>&1 || exit 1; echo "crash-$2""#,
            "hat_ctrl": #"case "$1" in -stream:5:*) f=${1#-stream:5:s1-2:f}; printf '120\n80\n' > "${f%:0}";; esac"#,
        ]
        for (name, body) in scripts {
            try ("#!/bin/sh\n" + body + "\n").write(toFile: bin + "/" + name, atomically: true, encoding: .utf8)
            chmod(bin + "/" + name, 0o755)
        }
        return ["PATH": bin + ":/usr/local/bin:/usr/bin:/bin", "MARK": work.path, "DUMPS": work.file("dumps")]
    }

    static let definition = #"""
        <?xml version="1.0" encoding="UTF-8"?>
        <testdefinition version="1.0">
          <suite name="dropin">
            <set name="all">
              <case name="crashes"><step>touch "$DUMPS/app.$(cat "$MARK/uuid").rcore.lzo"</step></case>
              <case name="euro"><step>printf 'price: \342\202\254'</step></case>
              <case name="by-hand" manual="true"><step>Look at the screen</step></case>
            </set>
          </suite>
        </testdefinition>
        """#

    @Test(.enabled(if: python3, "needs python3 for the HTTP logger"))
    func everyOptionAtOnce() async throws {
        let work = try Workspace()
        try work.write("dropin.xml", Self.definition)
        let receiver = try LogReceiver(folder: work.path)
        try await receiver.waitUntilListening()
        let result = try await OTSBinary.run(
            [
                "run", "-a", "-v", "-H", "-f", "dropin.xml", "-o", "results.xml", "--junit", "junit.xml",
                "-u", "https://git.example.com/dropin.git", "--package-url", "https://packages.example.com/dropin-1.0.rpm",
                "-S", "-L", "127.0.0.1:\(receiver.port)/log", "--logid", "run42", "--utf8-limit", "2",
                "-d", work.file("dumps"), "-T", "2", "--measure-power", "-Rcontinue",
            ],
            in: work.path,
            environment: try Self.tools(in: work)
        )
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!result.stderr.contains("warning"), "\(result.stderr)")
        #expect(result.stderr.contains("2 cases: 2 passed, 0 failed, 0 N/A; results in results.xml"))
        #expect(try await ResultsSchema.problems(in: work.file("results.xml")) == nil)

        let xml = try work.read("results.xml")
        // -u and -U, first in the results.
        #expect(
            xml.contains(
                "<vcsurl>https://git.example.com/dropin.git</vcsurl>\n  <packageurl>https://packages.example.com/dropin-1.0.rpm</packageurl>\n  <suite"
            ))
        // -a: the manual case is left out.
        #expect(!xml.contains("by-hand"))
        #expect(try work.read("junit.xml").contains(#"tests="2""#))
        // -d: the crash is tied to its case and its dump fetched.
        let uuids = try work.read("uuids").split(separator: "\n").map(String.init)
        #expect(uuids.count == 2, "one core pattern for each case that ran")
        let uuid = try #require(uuids.first)
        #expect(xml.contains("<rich_core_uuid>\(uuid)</rich_core_uuid>"))
        #expect(xml.contains("<crash_id>crash-\(uuid)</crash_id>"))
        #expect(work.exists("app.\(uuid).rcore.lzo"))
        // --measure-power: each case has its current samples.
        #expect(xml.components(separatedBy: #"<series name="Current samples" unit="mA" group="Current measurement""#).count == 3)
        // --utf8-limit 2: "€" (three bytes) is handled as invalid UTF-8.
        #expect(xml.contains("price: \u{FFFD}\n[output has a UTF-8 sequence longer than 2 bytes; the whole output is in output/"))

        // -L and --logid: every INFO line, POSTed as testrunner-lite does.
        let requests = receiver.requests
        #expect(!requests.isEmpty)
        #expect(requests.allSatisfy { $0.method == "POST" && $0.path == "/log" && $0.type == "application/x-www-form-urlencoded" })
        let first = try #require(requests.first?.body)
        #expect(
            first.hasPrefix(
                "levelno=20&name=testrunner-lite&levelname=INFO&module=ots&filename=ots&pathname=ots&funcName=run&lineno=0&msg="))
        #expect(first.contains("&exc_info=None&exc_text=None&args=()&threadName=None&thread=0.0&created="))
        #expect(first.hasSuffix("&logid=run42&"))
        let fields = first.split(separator: "&").map { $0.split(separator: "=", maxSplits: 1).first.map(String.init) ?? "" }
        #expect(
            fields == [
                "levelno", "name", "levelname", "module", "filename", "pathname", "funcName", "lineno", "msg", "exc_info", "exc_text",
                "args", "threadName", "thread", "created", "process", "relativeCreated", "msecs", "logid",
            ])
        let messages = requests.compactMap { request in
            request.body.split(separator: "&").first { $0.hasPrefix("msg=") }.map { String($0.dropFirst(4)).removingPercentEncoding ?? "" }
        }
        #expect(messages.contains("Finished test case crashes Result: PASS"))
        #expect(messages.contains("Executed 2 cases. Passed 2 Failed 0"))
        #expect(messages.last == "Results were written to: results.xml", "the run waits until every message is sent")
    }

    static let canUnshare =
        getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare") && python3
        && FileManager.default.isExecutableFile(atPath: "/bin/mount")

    /// `-S` for real: `ots run` in a private mount namespace whose /dev/log
    /// is a receiver of the test's.
    @Test(.enabled(if: canUnshare, "needs root, unshare, mount and python3 for a private /dev/log"))
    func syslogGetsWhatVerboseModePrints() async throws {
        let work = try Workspace()
        try work.write(
            "dropin.xml",
            #"<testdefinition version="1.0"><suite name="s"><set name="t"><case name="c"><step>true</step></case></set></suite></testdefinition>"#
        )
        let script = OTSBinary.repositoryRoot + "/Tests/EndToEndTests/Fixtures/with-private-dev-log.sh"
        let run = try await Subprocess.run(
            .path(FilePath("/usr/bin/unshare")),
            arguments: [
                "-m", "/bin/sh", script, work.path, work.file("syslog.txt"),
                OTSBinary.path, "run", "-a", "-H", "-v", "-S", "-f", work.file("dropin.xml"), "-o", work.file("results.xml"),
            ],
            output: .string(limit: 1 << 20), error: .string(limit: 1 << 20))
        #expect(run.terminationStatus == .exited(0), "\(run.standardError)")
        let lines = try work.read("syslog.txt").split(separator: "\n")
        // <142>: facility local1 (17 × 8) and priority info (6).
        #expect(lines.contains { $0.hasPrefix("<142>") && $0.hasSuffix(" testrunner-lite: Finished test case c Result: PASS") }, "\(lines)")
        #expect(lines.contains { $0.hasSuffix(" testrunner-lite: Executed 1 cases. Passed 1 Failed 0") }, "\(lines)")
        #expect(lines.allSatisfy { $0.hasPrefix("<142>") || $0.hasPrefix("<140>") }, "info, or warning (140)")
    }

    @Test func withoutTheDeviceToolsOneWarningEachAndTheRunGoesOn() async throws {
        let work = try Workspace()
        try work.write("dropin.xml", Self.definition)
        let result = try await OTSBinary.run(
            [
                "run", "-a", "-H", "-f", "dropin.xml", "-o", "results.xml", "-d", "/var/cache/core-dumps", "-T", "-1", "--measure-power",
                "-R",
            ],
            in: work.path,
            environment: ["PATH": "/usr/bin:/bin", "MARK": work.path, "DUMPS": work.file("dumps")]
        )
        #expect(result.status == 0, "\(result.stderr)")
        let warnings = result.stderr.split(separator: "\n").filter { $0.hasPrefix("warning: ") }
        #expect(
            warnings == [
                "warning: -d: rich-core-dumper (sp-rich-core) is not on the target; cases run without rich-core dumps",
                "warning: --measure-power: hat_ctrl is not on this host; cases run without power measurement",
            ], "\(result.stderr)")
        #expect(try await ResultsSchema.problems(in: work.file("results.xml")) == nil)
        #expect(!(try work.read("results.xml")).contains("rich_core_uuid"))
    }

    @Test func anUnreachableLoggerIsOneWarningAndTheRunGoesOn() async throws {
        let work = try Workspace()
        try work.write("dropin.xml", Self.definition)
        let port = try SSHServer.freePort()
        let result = try await OTSBinary.run(
            ["run", "-a", "-H", "-v", "-f", "dropin.xml", "-o", "results.xml", "-L", "http://127.0.0.1:\(port)/log"],
            in: work.path, environment: ["MARK": work.path, "DUMPS": work.file("dumps")])
        #expect(result.status == 0, "\(result.stderr)")
        let failures = result.stderr.split(separator: "\n").filter { $0.contains("http logging to http://127.0.0.1:\(port)/log failed") }
        #expect(failures.count == 1, "\(result.stderr)")
        #expect(work.exists("results.xml"))
    }

    @Test func versionPrintsTheVersion() async throws {
        let work = try Workspace()
        for flag in ["-V", "--version"] {
            let result = try await OTSBinary.run(["run", flag], in: work.path)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.hasPrefix("ots run (testrunner-lite compatible) version "))
        }
    }

    @Test func helpListsEveryTestrunnerLiteOption() async throws {
        let work = try Workspace()
        let result = try await OTSBinary.run(["run", "--help"], in: work.path)
        for option in [
            "-u, --vcs-url", "-U, --package-url", "-S, --syslog", "-L, --logger", "--logid", "--utf8-limit", "-V, --version",
            "-d, --rich-core-dumps", "-T, --core-upload-timeout", "--measure-power", "-i, --hwinfo-target", "-R, --resume",
        ] {
            #expect(result.stdout.contains(option), "\(option) in\n\(result.stdout)")
        }
    }
}
