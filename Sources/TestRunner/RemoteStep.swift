import Foundation

/// Keeps track of a step on a remote target (SSH or an external executor)
/// so that a timeout stops it there too: killing the local ssh leaves the
/// remote command running.
///
/// The step's remote shell records its pid in a file under /var/tmp and
/// removes it when it exits; on a timeout its process group (or, where the
/// shell leads none, its children and the shell) gets SIGTERM, then
/// SIGKILL, through the target (testrunner-lite does much the same).
struct RemoteStep: Sendable {
    let target: ExecutionTarget
    let commands: CommandRunner
    let pidFile = "/var/tmp/ots-step-" + UUID().uuidString + ".pid"

    /// The command as the remote shell runs it.
    func wrap(_ command: String) -> String {
        guard target.isRemote else { return command }
        return "trap 'rm -f \(pidFile)' EXIT; echo $$ > \(pidFile) 2>/dev/null; \(command)"
    }

    /// Stops the step's processes on the target.
    func stop(hard: Bool) async {
        let signal = hard ? "KILL" : "TERM"
        // The step's shell leads its own process group under sshd (and
        // under most executors): signal the group, else its children and
        // the shell itself.
        let command =
            "if [ -f \(pidFile) ]; then p=$(cat \(pidFile)); kill -\(signal) -- -$p 2>/dev/null || { pkill -\(signal) -P $p; kill -\(signal) $p; }; fi 2>/dev/null; "
            + (hard ? "rm -f \(pidFile)" : "true")
        try? await commands.run(target.arguments(for: command), timeout: .seconds(30)).removeFiles()
    }
}
