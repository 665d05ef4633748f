import Foundation
import TestRunner
import Testing

/// A real sshd on a loopback port, with a key of its own, for the tests of
/// SSH targets. Needs root (sshd's privilege separation) and openssh-server,
/// which `./scripts/test.sh` installs.
public final class SSHServer: Sendable {
    public let port: Int
    public let identity: String
    private let folder: TemporaryDirectory
    private let pid: pid_t

    public static var isAvailable: Bool {
        getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/sshd")
            && FileManager.default.isExecutableFile(atPath: "/usr/bin/ssh-keygen")
    }

    public static func start() async throws -> SSHServer {
        let folder = try TemporaryDirectory()
        let identity = folder.file("id_ed25519")
        _ = try await TestCommand.run(["/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", identity])
        _ = try await TestCommand.run(["/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", folder.file("host_key")])
        let server = try SSHServer(folder: folder, identity: identity)
        try await eventually("sshd to listen on port \(server.port)", within: .seconds(5), every: .milliseconds(50)) {
            canConnect(port: server.port)
        }
        return server
    }

    private init(folder: TemporaryDirectory, identity: String) throws {
        self.folder = folder
        self.identity = identity
        try FileManager.default.copyItem(atPath: identity + ".pub", toPath: folder.file("authorized_keys"))
        try FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true)
        port = try Self.freePort()
        try folder.write(
            "sshd_config",
            """
            Port \(port)
            ListenAddress 127.0.0.1
            HostKey \(folder.file("host_key"))
            AuthorizedKeysFile \(folder.file("authorized_keys"))
            PermitRootLogin prohibit-password
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            UsePAM no
            StrictModes no
            PidFile \(folder.file("sshd.pid"))
            Subsystem sftp /usr/lib/openssh/sftp-server

            """
        )
        // sshd lives as long as this object, beyond any one call, so it is
        // spawned directly and reaped in deinit.
        let arguments = ["/usr/sbin/sshd", "-D", "-e", "-f", folder.file("sshd_config")]
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var child: pid_t = 0
        guard posix_spawn(&child, arguments[0], &actions, nil, argv, environ) == 0 else {
            throw CocoaError(.executableLoad, userInfo: [NSLocalizedDescriptionKey: "cannot start sshd"])
        }
        pid = child
    }

    deinit {
        kill(pid, SIGTERM)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }

    public var target: String { "root@127.0.0.1:\(port)" }

    public static func freePort() throws -> Int {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    public static func canConnect(port: Int) -> Bool {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        return result == 0
    }
}

/// Runs a command for a test's setup, as an argument vector.
public enum TestCommand {
    public static func run(_ arguments: [String], timeout: Duration = .seconds(60)) async throws -> CommandOutcome {
        try await CommandRunner(scratchDirectory: FileManager.default.temporaryDirectory.path).run(arguments, timeout: timeout)
    }
}
