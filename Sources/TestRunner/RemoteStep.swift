import Foundation

/// Keeps track of a step on a remote target (SSH or an external executor)
/// so that a timeout stops it there too: killing the local ssh leaves the
/// remote command running.
///
/// The step's remote shell records its pid in a file under /var/tmp and
/// removes it when it exits; on a timeout its children get SIGTERM, then
/// SIGKILL, through the target (testrunner-lite does the same).
struct RemoteStep: Sendable {
    let target: ExecutionTarget
    let commands: CommandRunner
    let pidFile = "/var/tmp/ots-step-" + UUID().uuidString + ".pid"

    /// The command as the remote shell runs it.
    func wrap(_ command: String) -> String {
        guard target.isRemote else { return command }
        return "trap 'rm -f \(pidFile)' EXIT; echo $$ > \(pidFile); \(command)"
    }

    /// Stops the step's processes on the target.
    func stop(hard: Bool) async {
        let signal = hard ? "KILL" : "TERM"
        let command = "[ -f \(pidFile) ] && pkill -\(signal) -P $(cat \(pidFile)); " + (hard ? "rm -f \(pidFile)" : "true")
        try? await commands.run(target.arguments(for: command), timeout: .seconds(30)).removeFiles()
    }
}
