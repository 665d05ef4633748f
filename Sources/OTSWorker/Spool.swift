import Foundation
import Logging
import OTSCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// What a worker sends the server that must not be lost: events, results,
/// fetched files and task ends. Each waits in a file of its own, in order,
/// until the server has it; a worker restart sends what is left.
///
/// A message is written to a temporary file and renamed into place, so a
/// write that fails (a full disk) leaves no partial message behind; the
/// first failure is logged once, with the folder and the system's reason,
/// and kept for the sender to report to the server.
public final class Spool: Sendable {
    public enum Message: Sendable, Hashable, Codable {
        case events([MonitorEvent])
        /// The results XML is in the message's data file.
        case results(taskID: String, workerID: String, package: String)
        /// The file's content is in the message's data file.
        case file(taskID: String, workerID: String, package: String, name: String)
        case finish(taskID: String, TaskFinish)
    }

    public let directory: String
    let logger: Logger

    private struct State {
        var next: UInt64
        /// The messages waiting, by file name.
        var entries: [String: SpoolSchedule.Entry]
        /// Why writing fails, while it does.
        var failure: String?
        /// The size of the largest write that failed, while writing fails:
        /// writing works again when there is room for it.
        var needed = 0
        /// A failure the server has not been told of yet.
        var unreported: String?
    }

    private let state: Mutex<State>
    /// Wakes the sender when a message is added.
    private let added = Wakeup()

    public init(directory: String, logger: Logger = Logger(label: "ots.worker.spool", factory: { _ in SwiftLogNoOpLogHandler() }))
        throws(WorkerError)
    {
        self.directory = directory
        self.logger = logger
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: directory + "/rejected", withIntermediateDirectories: true)
        } catch {
            throw WorkerError(.spool, "cannot create the spool folder \(directory): \(error.localizedDescription)")
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        // A write cut short (the worker killed in the middle) left only a
        // temporary file: the message was never added.
        for name in names where name.hasSuffix(Self.temporarySuffix) {
            try? FileManager.default.removeItem(atPath: directory + "/" + name)
        }
        var entries: [String: SpoolSchedule.Entry] = [:]
        for name in names where Self.sequence(name) != nil {
            if let message = try? Self.decode(Data(contentsOf: URL(fileURLWithPath: directory + "/" + name))) {
                entries[name] = Self.entry(name, message)
            } else {
                // Sent on its own, so that it is set aside without holding up others.
                entries[name] = SpoolSchedule.Entry(name: name, lanes: ["unreadable " + name])
            }
        }
        // Numbers go on after those set aside too, so no name is used twice.
        let rejected = (try? FileManager.default.contentsOfDirectory(atPath: directory + "/rejected")) ?? []
        let next = ((names + rejected).compactMap(Self.sequence).max() ?? 0) + 1
        state = Mutex(State(next: next, entries: entries))
    }

    static let temporarySuffix = ".tmp"

    static func sequence(_ name: String) -> UInt64? {
        guard name.hasSuffix(".json") else { return nil }
        return UInt64(name.dropLast(5))
    }

    static func decode(_ json: Data) throws -> Message {
        try JSONCoding.decoder().decode(Message.self, from: json)
    }

    /// How the sender sees a message: the task it tells of (its lane), and
    /// whose report it is.
    static func entry(_ name: String, _ message: Message) -> SpoolSchedule.Entry {
        switch message {
        case .events(let events):
            let lanes = Set(events.map { $0.taskID.map { "task " + $0 } ?? "worker" })
            return SpoolSchedule.Entry(name: name, lanes: lanes.isEmpty ? ["worker"] : lanes, events: events.count)
        case .results(let taskID, let workerID, _), .file(let taskID, let workerID, _, _):
            return SpoolSchedule.Entry(name: name, lanes: ["task " + taskID], worker: workerID, task: taskID)
        case .finish(let taskID, let finish):
            return SpoolSchedule.Entry(name: name, lanes: ["task " + taskID], worker: finish.workerID, task: taskID)
        }
    }

    /// Adds a message (and its data) durably; the sender takes it from here.
    /// Throws a `spool` error naming the folder and the reason when it
    /// cannot be written; nothing of the message is left then.
    public func add(_ message: Message, data: [UInt8]? = nil) throws(WorkerError) {
        let json: Data
        do {
            json = try JSONCoding.encoder().encode(message)
        } catch {
            throw WorkerError(.spool, "cannot encode a message for the spool \(directory): \(error)")
        }
        let number = state.withLock { state -> UInt64 in
            defer { state.next += 1 }
            return state.next
        }
        let size = json.count + (data?.count ?? 0)
        let stem = String(format: "%016llu", number)
        let base = directory + "/" + stem
        do throws(WriteError) {
            if let data { try Self.write(data, to: base + ".data") }
            do throws(WriteError) {
                try Self.write(json, to: base + ".json")
            } catch {
                unlink(base + ".data")
                throw error
            }
        } catch {
            throw failed("cannot write to the spool folder \(directory): \(error.reason)", needed: size)
        }
        let name = stem + ".json"
        state.withLock { $0.entries[name] = Self.entry(name, message) }
        writable(wrote: size)
        added.wake()
    }

    /// Records a write failure; logs it when it is new.
    private func failed(_ text: String, needed: Int) -> WorkerError {
        let new = state.withLock { state -> Bool in
            defer {
                state.failure = text
                state.needed = max(state.needed, needed)
            }
            guard state.failure == nil else { return false }
            state.unreported = text
            return true
        }
        if new { logger.error("\(text); the worker takes no task until it can write there again") }
        return WorkerError(.spool, text)
    }

    /// Records that a write of `size` bytes worked; when writing had
    /// failed, that it works again, if that write was as large as the one
    /// that failed or there is room for that now (a small message may fit
    /// where results did not), and logs it.
    private func writable(wrote size: Int) {
        guard let needed = state.withLock({ $0.failure == nil ? nil : $0.needed }) else { return }
        guard size >= needed || hasRoom(for: needed) else { return }
        let recovered = state.withLock { state -> Bool in
            defer {
                state.failure = nil
                state.needed = 0
            }
            return state.failure != nil
        }
        if recovered { logger.notice("the spool folder \(directory) can be written again") }
    }

    /// Whether the spool's file system has room for `bytes` more (and a
    /// margin for the message beside them); true when it cannot tell.
    func hasRoom(for bytes: Int) -> Bool {
        var status = statvfs()
        guard statvfs(directory, &status) == 0 else { return true }
        return UInt64(status.f_bavail) * UInt64(status.f_frsize) >= UInt64(bytes) + Self.margin
    }

    /// Room beyond a failed write's size that writing again needs: the
    /// blocks its two files may round up to.
    static let margin: UInt64 = 8 * 1024

    /// Why the spool cannot be written, while it cannot.
    public var failure: String? { state.withLock { $0.failure } }

    /// A write failure the server has not been told of.
    var unreportedFailure: String? { state.withLock { $0.unreported } }

    /// The server has been told of `failure`.
    func reported(_ failure: String) {
        state.withLock { if $0.unreported == failure { $0.unreported = nil } }
    }

    /// Returns at once while the spool can be written; otherwise tries a
    /// small write every `interval` until one succeeds and there is room
    /// for the write that failed.
    public func waitUntilWritable(interval: Duration = .seconds(1)) async throws {
        while failure != nil {
            try await Task.sleep(for: interval)
            let probe = directory + "/probe" + Self.temporarySuffix
            let content = Data("probe\n".utf8)
            do {
                try Self.write(content, to: probe)
                unlink(probe)
                writable(wrote: content.count)
            } catch {
                unlink(probe)
            }
        }
    }

    struct WriteError: Error {
        var reason: String
    }

    /// Writes a whole file under a temporary name, then renames it into
    /// place: `path` holds all of `bytes` or does not exist.
    static func write(_ bytes: some ContiguousBytes, to path: String) throws(WriteError) {
        let temporary = path + temporarySuffix
        let name = (temporary as NSString).lastPathComponent
        func failure(_ what: String) -> WriteError {
            let code = errno
            unlink(temporary)
            return WriteError(reason: "\(String(cString: strerror(code))) (errno \(code), \(what) \(name))")
        }
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure("creating") }
        let written = bytes.withUnsafeBytes { buffer -> Bool in
            var offset = 0
            while offset < buffer.count {
                let count = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if count < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                offset += count
            }
            return true
        }
        guard written else {
            let error = failure("writing")
            close(fd)
            throw error
        }
        guard close(fd) == 0 else { throw failure("writing") }
        guard rename(temporary, path) == 0 else { throw failure("renaming") }
    }

    /// Messages waiting, oldest first.
    public var pending: [String] {
        state.withLock { $0.entries.keys.sorted() }
    }

    /// Messages waiting, oldest first, as the sender plans with them.
    var entries: [SpoolSchedule.Entry] {
        state.withLock { $0.entries.values.sorted { $0.name < $1.name } }
    }

    /// The tasks of `workerID` whose reports (results, files, finish) wait
    /// in the spool: the instance keeps their leases until they are sent.
    public func tasksWithReports(of workerID: String) -> [String] {
        state.withLock { state in
            Set(state.entries.values.filter { $0.worker == workerID }.compactMap(\.task)).sorted()
        }
    }

    func read(_ name: String) throws -> (Message, Data?) {
        let message = try Self.decode(Data(contentsOf: URL(fileURLWithPath: directory + "/" + name)))
        let dataPath = directory + "/" + name.dropLast(5) + ".data"
        let data = FileManager.default.fileExists(atPath: dataPath) ? try Data(contentsOf: URL(fileURLWithPath: dataPath)) : nil
        return (message, data)
    }

    func remove(_ name: String) {
        try? FileManager.default.removeItem(atPath: directory + "/" + name)
        try? FileManager.default.removeItem(atPath: directory + "/" + name.dropLast(5) + ".data")
        _ = state.withLock { $0.entries.removeValue(forKey: name) }
    }

    /// Sets a message aside in `rejected/`; when that fails, removes it, so
    /// that it never blocks the messages behind it.
    func reject(_ name: String) {
        for file in [name, name.dropLast(5) + ".data"] {
            let source = directory + "/" + file
            guard FileManager.default.fileExists(atPath: source) else { continue }
            var target = directory + "/rejected/" + file
            if FileManager.default.fileExists(atPath: target) {
                target += "." + UUID().uuidString
            }
            do {
                try FileManager.default.moveItem(atPath: source, toPath: target)
            } catch {
                try? FileManager.default.removeItem(atPath: source)
            }
        }
        _ = state.withLock { $0.entries.removeValue(forKey: name) }
    }

    /// Waits until something is added (at once when something was added
    /// since the last wait), or `timeout` passes.
    func waitForMessages(upTo timeout: Duration) async {
        await added.wait(upTo: timeout)
    }
}
