import Foundation
import Logging
import OTSClient
import OTSCore
import ServiceLifecycle

/// Sends the spool to the server: the messages of different tasks side by
/// side (up to `concurrency` requests at once), those of one task in order,
/// runs of events merged into batches. Waits and retries while the server
/// cannot be reached, and sets aside what the server refuses (with a log
/// line) so it blocks nothing. Tells the server, once, when the spool
/// cannot be written.
public struct SpoolSender: Service {
    let spool: Spool
    let client: OTSClient
    /// The instances' tokens: each message goes with its instance's.
    let credentials: WorkerCredentials?
    let logger: Logger
    /// Who the failure events it sends come from.
    let sender: MonitorEvent.Sender
    let schedule: SpoolSchedule

    public init(
        spool: Spool, client: OTSClient, credentials: WorkerCredentials? = nil, logger: Logger,
        sender: MonitorEvent.Sender = .this("worker"),
        concurrency: Int = 8
    ) {
        self.spool = spool
        self.client = client
        self.credentials = credentials
        self.logger = logger
        self.sender = sender
        self.schedule = SpoolSchedule(slots: max(1, concurrency), batchLimit: EventBatch.limit / 2)
    }

    /// The client to send a message of `workerID` with.
    func client(for workerID: String) -> OTSClient {
        credentials.map { client.acting(for: workerID, credentials: $0) } ?? client
    }

    public func run() async throws {
        // Shutdown cancels the loop; what is left waits on disk for next time.
        await cancelWhenGracefulShutdown { await sendAll() }
    }

    enum Progress { case idle, progress, unreachable }

    /// One request on its way: the messages it carries and their lanes.
    struct Send: Sendable {
        var names: [String]
        var lanes: Set<String>
    }

    private enum Outcome: Sendable {
        case sent(Send, Progress)
        case woken
    }

    private func sendAll() async {
        await withTaskGroup(of: Outcome.self) { group in
            let clock = ContinuousClock()
            var sending: [String: Set<String>] = [:]
            var waiting = false
            var backoff = Backoff(initial: .milliseconds(100))
            var pausedUntil: ContinuousClock.Instant?
            var lastReport: ContinuousClock.Instant?
            while !Task.isCancelled {
                if let failure = spool.unreportedFailure, lastReport.map({ clock.now - $0 > .seconds(5) }) ?? true {
                    lastReport = clock.now
                    await report(failure)
                }
                if let until = pausedUntil, clock.now >= until { pausedUntil = nil }
                if pausedUntil == nil {
                    for send in plan(busy: sending) {
                        sending[send.names[0]] = send.lanes
                        group.addTask { .sent(send, await self.send(send.names)) }
                    }
                }
                // While every slot is taken, a send ending is what wakes the loop.
                if !waiting && sending.count < schedule.slots {
                    waiting = true
                    let timeout = pausedUntil.map { clock.now.duration(to: $0) } ?? .seconds(1)
                    group.addTask {
                        await spool.waitForMessages(upTo: max(timeout, .milliseconds(10)))
                        return .woken
                    }
                }
                guard let outcome = await group.next() else { break }
                switch outcome {
                case .woken:
                    waiting = false
                case .sent(let send, let progress):
                    sending[send.names[0]] = nil
                    switch progress {
                    case .progress:
                        backoff.reset()
                    case .unreachable:
                        if pausedUntil == nil {
                            pausedUntil = clock.now.advanced(by: backoff.next())
                        }
                    case .idle:
                        break
                    }
                }
            }
            group.cancelAll()
        }
    }

    /// The sends to start beside those on their way.
    func plan(busy: [String: Set<String>]) -> [Send] {
        let entries = spool.entries
        let lanes = Dictionary(uniqueKeysWithValues: entries.map { ($0.name, $0.lanes) })
        let onTheirWay = busy.values.reduce(into: Set<String>()) { $0.formUnion($1) }
        return schedule.next(entries, busy: onTheirWay, sending: busy.count).map { names in
            Send(names: names, lanes: names.reduce(into: Set<String>()) { $0.formUnion(lanes[$1] ?? []) })
        }
    }

    /// Starts what may go now, side by side, and waits for all of it: some
    /// progress if any send made some.
    func sendSome() async -> Progress {
        let sends = plan(busy: [:])
        guard !sends.isEmpty else { return .idle }
        return await withTaskGroup(of: Progress.self) { group in
            for send in sends { group.addTask { await self.send(send.names) } }
            var result = Progress.idle
            for await progress in group {
                if progress == .progress || result == .idle { result = progress }
            }
            return result
        }
    }

    /// Sends one message, or one batch of event messages.
    func send(_ names: [String]) async -> Progress {
        guard let first = names.first else { return .idle }
        do {
            let (message, data) = try spool.read(first)
            var sent = [first]
            switch message {
            case .events(let events):
                // A batch holds one instance's events: it goes with that
                // instance's token.
                let worker = events.first.map { $0.sender.workerID } ?? ""
                var batch = events
                for name in names.dropFirst() {
                    guard case (.events(let more), _) = try spool.read(name), more.allSatisfy({ $0.sender.workerID == worker })
                    else { break }
                    batch += more
                    sent.append(name)
                }
                _ = try await client(for: worker).post(events: batch)
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
            // 401: the instance has not enrolled again since a restart, or
            // enrolled anew since its token was read; it will have one.
            logger.warning("cannot send now, \(spool.pending.count) messages wait in the spool: \(error.message)")
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

    /// Tells the server (not through the spool, which cannot be written)
    /// that the spool cannot be written.
    func report(_ failure: String) async {
        var event = MonitorEvent(type: .failure, sender: sender)
        event.error = MonitorEvent.Failure(category: .infrastructure, message: failure)
        event.details = ["spool": spool.directory]
        do {
            _ = try await client(for: sender.workerID).post(events: [event])
            spool.reported(failure)
        } catch {
            logger.warning("cannot tell the server that the spool cannot be written: \(error.message)")
        }
    }
}
