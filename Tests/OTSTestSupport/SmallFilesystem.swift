import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A tiny tmpfs mounted for a test, to run out of space for real: needs
/// root (or CAP_SYS_ADMIN); `mount` returns nil when it cannot be had
/// (a test that needs one is enabled only with `canMount`, and fails then).
public final class SmallFilesystem: Sendable {
    public let path: String
    private let filler: String

    /// Whether this process may mount one (it runs as root).
    public static var canMount: Bool { geteuid() == 0 }

    /// Mounts a tmpfs of `kilobytes` at `path` (created when missing).
    public static func mount(at path: String, kilobytes: Int) -> SmallFilesystem? {
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        guard Glibc.mount("tmpfs", path, "tmpfs", 0, "size=\(kilobytes)k,mode=0755") == 0 else {
            print("note: cannot mount a tmpfs at \(path) (\(String(cString: strerror(errno))))")
            return nil
        }
        return SmallFilesystem(path: path)
    }

    private init(path: String) {
        self.path = path
        filler = path + "/filler"
    }

    /// Takes every byte left, as another program filling the disk would.
    public func fill() {
        let fd = open(filler, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        guard fd >= 0 else { return }
        defer { close(fd) }
        let chunk = [UInt8](repeating: 0, count: 4096)
        while chunk.withUnsafeBytes({ Glibc.write(fd, $0.baseAddress, $0.count) }) > 0 {}
        // The last partial page too.
        while Glibc.write(fd, chunk, 1) > 0 {}
    }

    /// Takes all but `kilobytes` of the space left.
    public func fill(leaving kilobytes: Int) {
        var status = statvfs()
        guard statvfs(path, &status) == 0 else { return }
        var left = Int(status.f_bavail) * Int(status.f_frsize) - kilobytes * 1024
        let fd = open(filler, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        guard fd >= 0 else { return }
        defer { close(fd) }
        let chunk = [UInt8](repeating: 0, count: 4096)
        while left > 0 {
            let written = chunk.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, min($0.count, left)) }
            guard written > 0 else { return }
            left -= written
        }
    }

    /// Gives the space back.
    public func free() {
        unlink(filler)
    }

    /// Unmounts (lazily: a process may still have a file open there).
    public func unmount() {
        umount2(path, Int32(MNT_DETACH))
    }
}
