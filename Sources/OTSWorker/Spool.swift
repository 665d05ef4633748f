import Foundation
import Logging
import OTSClient
import OTSCore
import ServiceLifecycle
import Synchronization

/// What a worker sends the server that must not be lost: events, results,
/// fetched files and task ends. Each waits in a file of its own, in order,
/// until the server has it; a worker restart sends what is left.
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
    private let next: Mutex<UInt64>
    private let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))

    public init(directory: String) throws(WorkerError) {
        self.directory = directory
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: directory + "/rejected", withIntermediateDirectories: true)
        } catch {
            throw WorkerError(.spool, "cannot create the spool folder \(directory): \(error.localizedDescription)")
        }
        // Numbers go on after those set aside too, so no name is used twice.
        let names =
            ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            + ((try? FileManager.default.contentsOfDirectory(atPath: directory + "/rejected")) ?? [])
        next = Mutex((names.compactMap(Self.sequence).max() ?? 0) + 1)
    }

    static func sequence(_ name: String) -> UInt64? {
        guard name.hasSuffix(".json") else { return nil }
        return UInt64(name.dropLast(5))
    }

    /// Adds a message (and its data) durably; the sender takes it from here.
    public func add(_ message: Message, data: [UInt8]? = nil) throws(WorkerError) {
        let number = next.withLock { value -> UInt64 in
            defer { value += 1 }
            return value
        }
        let name = String(format: "%016llu", number)
        do {
            if let data {
                try Data(data).write(to: URL(fileURLWithPath: directory + "/" + name + ".data"), options: .atomic)
            }
            let json = try JSONCoding.encoder().encode(message)
            try json.write(to: URL(fileURLWithPath: directory + "/" + name + ".json"), options: .atomic)
        } catch {
            throw WorkerError(.spool, "cannot write to the spool \(directory): \(error.localizedDescription)")
        }
        continuation.yield()
    }

    /// Messages waiting, oldest first.
    public var pending: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { Self.sequence($0) != nil }.sorted()
    }

    func read(_ name: String) throws -> (Message, Data?) {
        let json = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + name))
        let message = try JSONCoding.decoder().decode(Message.self, from: json)
        let dataPath = directory + "/" + name.dropLast(5) + ".data"
        let data = FileManager.default.fileExists(atPath: dataPath) ? try Data(contentsOf: URL(fileURLWithPath: dataPath)) : nil
        return (message, data)
    }

    func remove(_ name: String) {
        try? FileManager.default.removeItem(atPath: directory + "/" + name)
        try? FileManager.default.removeItem(atPath: directory + "/" + name.dropLast(5) + ".data")
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
    }

    /// Waits until something is added, or `timeout` passes.
    func waitForMessages(upTo timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                var iterator = self.stream.makeAsyncIterator()
                _ = await iterator.next()
            }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
    }
}

/// Sends the spool to the server in order, merging runs of events into
/// batches; waits and retries while the server cannot be reached, and sets
/// aside what the server refuses (with a log line) so it blocks nothing.
public struct SpoolSender: Service {
    let spool: Spool
    let client: OTSClient
    /// The instances' tokens: each message goes with its instance's.
    let credentials: WorkerCredentials?
    let logger: Logger

    public init(spool: Spool, client: OTSClient, credentials: WorkerCredentials? = nil, logger: Logger) {
        self.spool = spool
        self.client = client
        self.credentials = credentials
        self.logger = logger
    }

    /// The client to send a message of `workerID` with.
    func client(for workerID: String) -> OTSClient {
        credentials.map { client.acting(for: workerID, credentials: $0) } ?? client
    }

    public func run() async throws {
        // Shutdown cancels the loop; what is left waits on disk for next time.
        await cancelWhenGracefulShutdown {
            var backoff = Duration.milliseconds(100)
            while !Task.isCancelled {
                let sent = await sendSome()
                switch sent {
                case .idle:
                    await spool.waitForMessages(upTo: .seconds(1))
                case .progress:
                    backoff = .milliseconds(100)
                case .unreachable:
                    try? await Task.sleep(for: backoff)
                    backoff = min(backoff * 2, .seconds(5))
                }
            }
        }
    }

    enum Progress { case idle, progress, unreachable }

    /// Sends the oldest message (or run of event messages).
    func sendSome() async -> Progress {
        let pending = spool.pending
        guard let first = pending.first else { return .idle }
        do {
            let (message, data) = try spool.read(first)
            var sent = [first]
            switch message {
            case .events(let events):
                // A batch holds one instance's events: it goes with that
                // instance's token.
                let sender = events.first.map(Self.workerID) ?? ""
                var batch = events
                for name in pending.dropFirst() {
                    guard batch.count < EventBatch.limit / 2, case (.events(let more), _) = try spool.read(name),
                        more.allSatisfy({ Self.workerID($0) == sender })
                    else { break }
                    batch += more
                    sent.append(name)
                }
                _ = try await client(for: sender).post(events: batch)
            case .results(let taskID, let workerID, let package):
                try await client(for: workerID).uploadResults(
                    taskID: taskID, workerID: workerID, package: package, xml: [UInt8](data ?? Data()))
            case .file(let taskID, let workerID, let package, let name):
                try await client(for: workerID).uploadFile(
                    taskID: taskID, workerID: workerID, package: package, name: name, content: [UInt8](data ?? Data()))
            case .finish(let taskID, let finish):
                try await client(for: finish.workerID).finish(taskID: taskID, finish)
            }
            sent.forEach(spool.remove)
            return .progress
        } catch let error as ClientError where error.isTransient || error.status == 401 {
            // 401: the instance has not enrolled again yet since a restart,
            // or enrolled anew since the token was read; it will have one.
            logger.warning("cannot send now, \(pending.count) messages wait in the spool: \(error.message)")
            return .unreachable
        } catch let error as ClientError {
            logger.error("the server refused spooled message \(first), set aside in \(spool.directory)/rejected: \(error.message)")
            spool.reject(first)
            return .progress
        } catch {
            logger.error("spooled message \(first) cannot be read, set aside: \(error)")
            spool.reject(first)
            return .progress
        }
    }
}

extension SpoolSender {
    static func workerID(_ event: MonitorEvent) -> String {
        "\(event.sender.host)/\(event.sender.instance)"
    }
}
