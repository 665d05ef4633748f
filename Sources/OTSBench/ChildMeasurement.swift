import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Runs a child process and measures it as a whole: wall time and the
/// peak resident set size the kernel reports when it is reaped. (The
/// benchmarks need `wait4`'s resource usage, which no process library
/// exposes.)
struct ChildMeasurement {
    var exitCode: Int32
    var wallSeconds: Double
    var peakRSSKilobytes: Int

    static func run(_ arguments: [String]) throws -> ChildMeasurement {
        var fileActions: posix_spawn_file_actions_t = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&fileActions)
        defer { posix_spawn_file_actions_destroy(&fileActions) }
        posix_spawn_file_actions_addopen(&fileActions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&fileActions, 2, "/dev/null", O_WRONLY, 0)
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let started = ContinuousClock.now
        let rc = posix_spawn(&pid, arguments[0], &fileActions, nil, argv, environ)
        guard rc == 0 else {
            throw CocoaError(
                .executableLoad, userInfo: [NSLocalizedDescriptionKey: "cannot start \(arguments[0]): \(String(cString: strerror(rc)))"])
        }
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) == -1 && errno == EINTR {}
        let elapsed = ContinuousClock.now - started
        let exited = (status & 0x7f) == 0
        return ChildMeasurement(
            exitCode: exited ? (status >> 8) & 0xff : 128 + (status & 0x7f),
            wallSeconds: elapsed / .seconds(1),
            peakRSSKilobytes: usage.ru_maxrss
        )
    }
}

/// This `ots` executable's path, for benchmarks that start more of it.
var ownExecutable: String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
        ?? (CommandLine.arguments[0].hasPrefix("/")
            ? CommandLine.arguments[0] : FileManager.default.currentDirectoryPath + "/" + CommandLine.arguments[0])
}
