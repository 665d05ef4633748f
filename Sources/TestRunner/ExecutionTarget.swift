/// Where steps run and how files are fetched from there: every step command
/// becomes an argument vector here, and nothing else goes through a shell.
///
/// The step command itself is shell text by definition (tests.xml holds
/// shell commands, as for testrunner-lite), so it is handed to `/bin/sh -c`
/// on the target as one argument.
public enum ExecutionTarget: Sendable, Hashable {
    /// On this machine (the default).
    case local
    /// Inside a chroot on this machine (`-C DIR`).
    case chroot(String)
    /// On an SSH target (`-t user@host:port`).
    case ssh(SSHTarget)
    /// Through an external executor (`-E CMD`): the command's words, with
    /// the step command appended as one more argument.
    case external([String])

    /// The argument vector that runs `command` on the target.
    public func arguments(for command: String) -> [String] {
        switch self {
        case .local:
            ["/bin/sh", "-c", command]
        case .chroot(let root):
            ["chroot", root, "/bin/sh", "-c", command]
        case .ssh(let target):
            target.sshArguments + [command]
        case .external(let words):
            words + [command]
        }
    }

    /// Whether files live on another machine and must be copied back.
    public var isRemote: Bool {
        switch self {
        case .local, .chroot: false
        case .ssh, .external: true
        }
    }

    /// The path of a target file as seen from this machine, when it can be
    /// read directly (locally, or inside the chroot).
    public func localPath(of targetPath: String) -> String? {
        switch self {
        case .local:
            targetPath
        case .chroot(let root):
            root.hasSuffix("/") ? root + targetPath.drop { $0 == "/" } : root + "/" + targetPath.drop { $0 == "/" }
        case .ssh, .external:
            nil
        }
    }
}

/// `user@host:port`, as testrunner-lite's `-t` takes it; user and port are
/// optional.
public struct SSHTarget: Sendable, Hashable, CustomStringConvertible {
    public var user: String?
    public var host: String
    public var port: Int?
    /// Extra `ssh` options (for example an identity file), each one word.
    public var options: [String]

    public init(user: String? = nil, host: String, port: Int? = nil, options: [String] = []) {
        self.user = user
        self.host = host
        self.port = port
        self.options = options
    }

    /// Parses `[user@]host[:port]`; IPv6 hosts go in brackets (`[::1]:22`).
    public init(parsing text: String) throws(RunnerError) {
        var rest = Substring(text)
        var user: String?
        if let at = rest.lastIndex(of: "@") {
            user = String(rest[..<at])
            rest = rest[rest.index(after: at)...]
            if user!.isEmpty { throw RunnerError(.invalidArgument, "target '\(text)': the user before '@' is empty") }
        }
        var host: Substring
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else {
                throw RunnerError(.invalidArgument, "target '\(text)': an IPv6 address needs a closing ']'")
            }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") {
                portText = after.dropFirst()
            } else if !after.isEmpty {
                throw RunnerError(.invalidArgument, "target '\(text)': unexpected '\(after)' after the address")
            }
        } else if rest.filter({ $0 == ":" }).count > 1 {
            // An IPv6 address without brackets has no port.
            host = rest
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
        } else {
            host = rest
        }
        guard !host.isEmpty, host.allSatisfy({ $0.isLetter || $0.isNumber || "-._:".contains($0) }), !host.hasPrefix("-")
        else {
            throw RunnerError(.invalidArgument, "target '\(text)': '\(host)' is not a host name or address")
        }
        var port: Int?
        if let portText {
            guard let value = Int(portText), (1...65535).contains(value) else {
                throw RunnerError(.invalidArgument, "target '\(text)': port '\(portText)' is not a number from 1 to 65535")
            }
            port = value
        }
        self.init(user: user, host: String(host), port: port)
    }

    public var description: String {
        let address = host.contains(":") ? "[\(host)]" : host
        return (user.map { $0 + "@" } ?? "") + address + (port.map { ":\($0)" } ?? "")
    }

    /// `user@host` as ssh and scp take it.
    var destination: String {
        (user.map { $0 + "@" } ?? "") + host
    }

    /// Options that make ssh fail fast instead of asking questions, and
    /// notice a target that went away.
    var commonOptions: [String] {
        [
            "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR",
            "-o", "ConnectTimeout=10",
            "-o", "ServerAliveInterval=15",
            "-o", "ServerAliveCountMax=3",
        ] + options
    }

    var sshArguments: [String] {
        ["ssh"] + commonOptions + (port.map { ["-p", String($0)] } ?? []) + ["--", destination]
    }

    /// Copies `remote` from the target to `local`.
    func scpArguments(remote: String, local: String) -> [String] {
        let address = host.contains(":") ? "[\(host)]" : host
        // -O: the original scp protocol, which devices without an SFTP
        // server still speak.
        return ["scp", "-q", "-O"] + commonOptions + (port.map { ["-P", String($0)] } ?? [])
            + ["--", (user.map { $0 + "@" } ?? "") + address + ":" + remote, local]
    }
}
