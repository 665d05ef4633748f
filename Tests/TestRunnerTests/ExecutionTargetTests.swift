import Foundation
import OTSTestSupport
import TestDefinition
import Testing

@testable import TestRunner

@Suite struct ExecutionTargetTests {
    @Test func commandsBecomeArgumentVectors() throws {
        #expect(ExecutionTarget.local.arguments(for: "echo $HOME") == ["/bin/sh", "-c", "echo $HOME"])
        #expect(ExecutionTarget.chroot("/srv/root").arguments(for: "ls") == ["chroot", "/srv/root", "/bin/sh", "-c", "ls"])
        #expect(
            ExecutionTarget.external(["/usr/bin/ssh", "user@target"]).arguments(for: "ls -l") == ["/usr/bin/ssh", "user@target", "ls -l"])
        let ssh = try SSHTarget(parsing: "tester@device:2222")
        let arguments = ExecutionTarget.ssh(ssh).arguments(for: "uname -a")
        #expect(arguments.first == "ssh")
        #expect(Array(arguments.suffix(5)) == ["-p", "2222", "--", "tester@device", "uname -a"])
        #expect(arguments.contains("BatchMode=yes"))
    }

    @Test(
        arguments: [
            ("host", nil, "host", nil),
            ("user@host", "user", "host", nil),
            ("user@10.0.0.1:2222", "user", "10.0.0.1", 2222),
            ("[::1]:22", nil, "::1", 22),
            ("fe80::1", nil, "fe80::1", nil),
            ("me@[fe80::1]", "me", "fe80::1", nil),
        ] as [(String, String?, String, Int?)])
    func parsesTargets(text: String, user: String?, host: String, port: Int?) throws {
        let target = try SSHTarget(parsing: text)
        #expect(target.user == user)
        #expect(target.host == host)
        #expect(target.port == port)
    }

    @Test(arguments: ["", "@host", "host:0", "host:99999", "host:ssh", "-oProxyCommand=x", "ho st", "[::1"])
    func rejectsBadTargets(text: String) {
        #expect(throws: RunnerError.self) { try SSHTarget(parsing: text) }
    }

    @Test func chrootPathsAreInsideTheRoot() {
        #expect(ExecutionTarget.chroot("/srv/root").localPath(of: "/tmp/log") == "/srv/root/tmp/log")
        #expect(ExecutionTarget.chroot("/srv/root/").localPath(of: "tmp/log") == "/srv/root/tmp/log")
        #expect(ExecutionTarget.ssh(SSHTarget(host: "h")).localPath(of: "/tmp/log") == nil)
    }
}

@Suite struct ExternalExecutorTests {
    /// An executor that records each command it gets and runs it.
    func executor(in harness: RunnerHarness) throws -> String {
        let path = harness.folder.file("executor.sh")
        try harness.folder.write("executor.sh", "#!/bin/sh\nprintf '%s\\n' \"$1\" >> \"$WORK/executed\"\nexec /bin/sh -c \"$1\"\n")
        chmod(path, 0o755)
        return path
    }

    @Test func stepsRunThroughTheExecutorWithTheCommandAsItsLastArgument() async throws {
        var harness = try RunnerHarness()
        harness.configuration.target = .external([try executor(in: harness)])
        let results = try await harness.run(#"<case name="c"><step>echo "a b"; exit 4</step></case>"#)
        #expect(results.case("c")?.steps.first?.returnCode == 4)
        #expect(results.case("c")?.steps.first?.stdout == "a b\n")
        let executed = try String(contentsOfFile: harness.folder.file("executed"), encoding: .utf8)
        // The step, after the wrapper that lets a timeout stop it remotely.
        #expect(executed.hasPrefix("trap 'rm -f /var/tmp/ots-step-"))
        #expect(executed.hasSuffix(".pid 2>/dev/null; echo \"a b\"; exit 4\n"))
    }

    @Test func withoutAGetterFilesAreReadThroughTheExecutor() async throws {
        var harness = try RunnerHarness()
        harness.configuration.target = .external([try executor(in: harness)])
        let file = harness.folder.file("its.log")
        let results = try await harness.run(
            """
            <case name="c"><step>echo fetched &gt; "$WORK/its.log"</step></case>
            <get><file delete_after="true">\(file)</file></get>
            """
        )
        #expect(results.case("c")?.result == .pass)
        #expect(try String(contentsOfFile: harness.folder.file("results/its.log"), encoding: .utf8) == "fetched\n")
        #expect(!FileManager.default.fileExists(atPath: file))
    }

    @Test(arguments: [true, false])
    func theGetterGetsFileAndDestination(placeholders: Bool) async throws {
        var harness = try RunnerHarness()
        let getter = harness.folder.file("getter.sh")
        try harness.folder.write("getter.sh", "#!/bin/sh\necho \"$@\" >> \"$WORK/got\"\ncp \"$2\" \"$3\"\n")
        chmod(getter, 0o755)
        harness.configuration.getter = placeholders ? [getter, "--copy", "<FILE>", "<DEST>"] : [getter, "--copy"]
        let file = harness.folder.file("a.log")
        _ = try await harness.run(
            "<case name=\"c\"><step>echo x &gt; \"$WORK/a.log\"</step></case><get><file>\(file)</file></get>"
        )
        let got = try String(contentsOfFile: harness.folder.file("got"), encoding: .utf8)
        // <DEST> is the results folder, as in testrunner-lite.
        #expect(got == "--copy \(file) \(harness.folder.file("results"))/\n")
        #expect(FileManager.default.fileExists(atPath: harness.folder.file("results/a.log")))
    }
}

@Suite(.enabled(if: getuid() == 0, "chroot needs root"))
struct ChrootTests {
    @Test func stepsRunInsideTheChrootAndFilesComeFromIt() async throws {
        var harness = try RunnerHarness()
        let root = harness.folder.file("root")
        try await MinimalRoot.build(at: root)
        harness.configuration.target = .chroot(root)
        let results = try await harness.run(
            """
            <case name="c"><step>test -f /inside-marker &amp;&amp; echo hello &gt; /out.txt</step></case>
            <get><file delete_after="true">/out.txt</file></get>
            """
        )
        #expect(results.case("c")?.result == .pass)
        #expect(try String(contentsOfFile: harness.folder.file("results/out.txt"), encoding: .utf8) == "hello\n")
        #expect(!FileManager.default.fileExists(atPath: root + "/out.txt"))
    }

    @Test func fetchedPathsStayInsideTheChroot() async throws {
        var harness = try RunnerHarness()
        let root = harness.folder.file("root")
        try await MinimalRoot.build(at: root)
        try harness.folder.write("secret.txt", "host only")
        harness.configuration.target = .chroot(root)
        let results = try await harness.run(
            "<case name=\"c\"><step>true</step></case><get><file>/../../../..\(harness.folder.path)/secret.txt</file></get>"
        )
        #expect(results.case("c")?.result == .pass)
        #expect(!FileManager.default.fileExists(atPath: harness.folder.file("results/secret.txt")))
    }
}

/// A root holding /bin/sh and the libraries it needs.
enum MinimalRoot {
    static func build(at root: String) async throws {
        let shell = try FileManager.default.destinationOfSymbolicLink(atPath: "/bin/sh")
        let shellPath = shell.hasPrefix("/") ? shell : "/bin/" + shell
        var files = [shellPath, "/usr/bin/test", "/bin/cat", "/bin/rm"]
        let output = try await TestCommand.run(["/usr/bin/ldd", shellPath, "/usr/bin/test", "/bin/cat", "/bin/rm"]).stdout.text
        for word in output.split(whereSeparator: { $0.isWhitespace }) where word.hasPrefix("/") && !word.hasSuffix(":") {
            files.append(String(word))
        }
        for file in files {
            let destination = root + file
            try FileManager.default.createDirectory(
                atPath: (destination as NSString).deletingLastPathComponent,
                withIntermediateDirectories: true
            )
            if !FileManager.default.fileExists(atPath: destination) {
                try FileManager.default.copyItem(atPath: URL(fileURLWithPath: file).resolvingSymlinksInPath().path, toPath: destination)
            }
        }
        try FileManager.default.createDirectory(atPath: root + "/bin", withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: root + "/bin/sh") {
            try FileManager.default.copyItem(atPath: root + shellPath, toPath: root + "/bin/sh")
        }
        FileManager.default.createFile(atPath: root + "/inside-marker", contents: Data())
    }
}

@Suite(.enabled(if: SSHServer.isAvailable, "needs root and openssh-server (./scripts/test.sh installs it)"))
struct SSHTargetTests {
    @Test func stepsRunOnTheTargetAndFilesAreCopiedBack() async throws {
        let server = try await SSHServer.start()
        var harness = try RunnerHarness()
        var target = try SSHTarget(parsing: server.target)
        target.options = ["-i", server.identity]
        harness.configuration.target = .ssh(target)
        let remoteFile = harness.folder.file("remote-\(UUID().uuidString).log")
        let results = try await harness.run(
            """
            <case name="c"><step>echo "on $(hostname)" &gt; \(remoteFile); echo out; exit 5</step></case>
            <case name="d"><step>true</step></case>
            <get><file delete_after="true">\(remoteFile)</file></get>
            """
        )
        #expect(results.case("c")?.steps.first?.returnCode == 5)
        #expect(results.case("c")?.steps.first?.stdout == "out\n")
        #expect(results.case("d")?.result == .pass)
        let fetched = harness.folder.file("results/" + (remoteFile as NSString).lastPathComponent)
        #expect(try String(contentsOfFile: fetched, encoding: .utf8).hasPrefix("on "))
        #expect(!FileManager.default.fileExists(atPath: remoteFile))
    }
}

@Suite struct SSHConnectionFailureTests {
    @Test func anUnreachableTargetIsAConnectionFailure() async throws {
        var harness = try RunnerHarness()
        let port = try SSHServer.freePort()
        harness.configuration.target = .ssh(try SSHTarget(parsing: "root@127.0.0.1:\(port)"))
        await #expect(throws: RunnerError.self) {
            _ = try await harness.run(#"<case name="c"><step>true</step></case>"#)
        }
        do {
            _ = try await harness.run(#"<case name="c"><step>true</step></case>"#)
        } catch let error as RunnerError {
            #expect(error.code == .connectionFailure)
            #expect(error.message.hasPrefix("cannot reach the target root@127.0.0.1:\(port)"))
        }
    }
}
