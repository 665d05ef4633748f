import AsyncHTTPClient
import Foundation
import Logging
import OTSClient
import OTSCore
import ServiceLifecycle
import Synchronization

/// One device's worker: registers, claims tasks for its routing keys, runs
/// each through the pipeline while heartbeating, and stops a task the
/// server no longer wants run.
public struct WorkerInstance: Service {
    let instance: WorkerConfiguration.Instance
    let configuration: WorkerConfiguration
    /// Enrolls with the farm's secret.
    let client: OTSClient
    /// Everything after enrollment, with the instance's own token.
    let instanceClient: OTSClient
    let credentials: WorkerCredentials
    let spool: Spool
    let http: HTTPClient
    /// Fetches images and definitions, following no redirect by itself.
    let downloads: HTTPClient
    let logger: Logger
    /// Hears each task as it starts (benchmarks measure dispatch with it).
    let onTaskStarted: @Sendable (TaskAssignment) -> Void

    public init(
        instance: WorkerConfiguration.Instance, configuration: WorkerConfiguration, client: OTSClient, credentials: WorkerCredentials,
        spool: Spool, http: HTTPClient, downloads: HTTPClient = OTSClient.downloads, logger: Logger,
        onTaskStarted: @escaping @Sendable (TaskAssignment) -> Void = { _ in }
    ) {
        self.instance = instance
        self.configuration = configuration
        self.client = client
        self.credentials = credentials
        let workerID = WorkerRegistration(host: configuration.host, instance: instance.name, pid: 0, device: instance.device).workerID
        self.instanceClient = client.acting(for: workerID, credentials: credentials)
        self.spool = spool
        self.http = http
        self.downloads = downloads
        var logger = logger
        logger[metadataKey: "instance"] = "\(instance.name)"
        self.logger = logger
        self.onTaskStarted = onTaskStarted
    }

    var registration: WorkerRegistration {
        WorkerRegistration(
            host: configuration.host, instance: instance.name, pid: ProcessInfo.processInfo.processIdentifier, device: instance.device)
    }

    public func run() async throws {
        let state = InstanceState()
        do {
            try await work(state)
        } catch is CancellationError {
            // Shutdown: a task in hand is left to its lease (another worker
            // takes it when the lease runs out).
        }
        // A clean shutdown says so, so that the farm need not wait for
        // missed heartbeats to know.
        if let workerID = state.workerID {
            do {
                try await instanceClient.offline(workerID: workerID)
            } catch {
                logger.warning("could not tell the server this instance goes offline: \(error.message)")
            }
        }
    }

    /// What the claim loop and the heartbeat loop share.
    final class InstanceState: Sendable {
        private struct Values {
            var workerID: String?
            var heartbeat = Duration.seconds(5)
            var task: String?
            var stop: AsyncStream<Void>.Continuation?
        }

        private let values = Mutex(Values())

        var workerID: String? { values.withLock { $0.workerID } }
        var task: String? { values.withLock { $0.task } }
        var heartbeat: Duration { values.withLock { $0.heartbeat } }

        func registered(_ registered: WorkerRegistered) {
            values.withLock {
                $0.workerID = registered.workerID
                $0.heartbeat = .milliseconds(Int64(max(0.1, registered.heartbeatSeconds) * 1000))
            }
        }

        /// The task being run, and how to stop it.
        func running(_ task: String?, stop: AsyncStream<Void>.Continuation? = nil) {
            values.withLock {
                $0.task = task
                $0.stop = stop
            }
        }

        /// Stops the task if it is still the one being run; true the first
        /// time it is asked to.
        func stop(_ task: String) -> Bool {
            values.withLock {
                guard $0.task == task, let stop = $0.stop else { return false }
                stop.yield()
                $0.stop = nil
                return true
            }
        }
    }

    private func work(_ state: InstanceState) async throws {
        try await cancelWhenGracefulShutdown {
            state.registered(try await register())
            let pipeline = try makePipeline()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await heartbeats(state) }
                group.addTask { try await claims(state, pipeline: pipeline) }
                try await group.next()
                group.cancelAll()
            }
        }
    }

    /// Heartbeats for the instance's whole life, busy or free; passes on
    /// the server's word to stop a task.
    private func heartbeats(_ state: InstanceState) async throws {
        while !Task.isCancelled {
            try await Task.sleep(for: state.heartbeat)
            guard let workerID = state.workerID else { continue }
            let task = state.task
            // Tasks ended whose reports still wait in the spool keep their leases.
            let spooled = spool.tasksWithReports(of: workerID).filter { $0 != task }.prefix(Heartbeat.spooledLimit)
            do {
                // Free but unable to take work: said so, for `ots workers`.
                let now: Heartbeat.State = task != nil ? .busy : spool.failure != nil ? .spoolFull : .free
                let reply = try await instanceClient.heartbeat(
                    Heartbeat(
                        workerID: workerID, state: now.rawValue, taskID: task, spooledTaskIDs: spooled.isEmpty ? nil : Array(spooled)))
                if reply.stopTask, let task, state.stop(task) {
                    logger.info("the server stops task \(task): \(reply.reason ?? "")")
                }
            } catch {
                logger.warning("heartbeat failed: \(error.message)")
            }
        }
    }

    /// Claims and runs tasks, one at a time.
    private func claims(_ state: InstanceState, pipeline: Pipeline) async throws {
        var backoff = Backoff(initial: .milliseconds(200))
        while !Task.isCancelled {
            guard let workerID = state.workerID else { return }
            // No task is taken while its reports could not be kept.
            try await spool.waitUntilWritable()
            let assignment: TaskAssignment?
            let failure: ClientError?
            do throws(ClientError) {
                assignment = try await instanceClient.claim(workerID: workerID, wait: configuration.claimWait)
                failure = nil
            } catch {
                assignment = nil
                failure = error
            }
            if let failure {
                if failure.status == 404 {
                    // The server forgot this instance (a new database): register again.
                    state.registered(try await register())
                    continue
                }
                guard failure.isTransient else { throw failure }
                if Task.isCancelled { break }
                let wait = backoff.next()
                logger.warning("cannot claim: \(failure.message); trying again in \(wait)")
                try await Task.sleep(for: wait)
                continue
            }
            backoff.reset()
            guard let assignment else { continue }
            let (stopped, stop) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
            state.running(assignment.taskID, stop: stop)
            await execute(assignment, pipeline: pipeline, workerID: workerID, stopped: stopped)
            state.running(nil)
        }
    }

    /// Registers, waiting for the server while it cannot be reached.
    private func register() async throws -> WorkerRegistered {
        var backoff = Backoff(initial: .milliseconds(200))
        while true {
            let failure: ClientError
            do {
                let registered = try await client.register(registration)
                credentials.set(registered.token, for: registered.workerID)
                logger.info("registered as \(registered.workerID) for \(instance.device.consumedRoutingKeys.joined(separator: ", "))")
                return registered
            } catch {
                failure = error
            }
            guard failure.isTransient else { throw failure }
            let wait = backoff.next()
            logger.warning("cannot register: \(failure.message); trying again in \(wait)")
            try await Task.sleep(for: wait)
        }
    }

    private func makePipeline() throws -> Pipeline {
        let adapter: any DeviceAdapter
        switch instance.adapter {
        case .simulated(let device): adapter = SimulatedDeviceAdapter(device)
        case .commands(let commands):
            let scratch = configuration.workDirectory + "/scratch"
            try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
            adapter = CommandDeviceAdapter(commands: commands, values: instance.placeholders, scratchDirectory: scratch)
        }
        var pipeline = Pipeline(
            instance: instance,
            workerID: registration.workerID,
            sender: MonitorEvent.Sender(host: configuration.host, instance: instance.name),
            adapter: adapter,
            images: ImageCache(
                directory: configuration.workDirectory + "/images", http: downloads, policy: configuration.urls,
                maximumBytes: configuration.maxImageBytes),
            spool: spool,
            workDirectory: configuration.workDirectory + "/" + instance.name,
            client: instanceClient,
            logger: logger
        )
        pipeline.allowHostPackages = configuration.allowHostPackages
        pipeline.maxResultsBytes = configuration.maxResultsBytes
        return pipeline
    }

    private enum Ending: Sendable {
        case finished(TaskFinish)
        case failed(String)
        case stopped(String)
        /// Its reports cannot be spooled: it is left to its lease.
        case unspooled(String)
    }

    /// Runs the task until it ends, or until the server asks to stop it.
    private func execute(_ assignment: TaskAssignment, pipeline: Pipeline, workerID: String, stopped: AsyncStream<Void>) async {
        logger.info(
            "task \(assignment.taskID) of testrun \(assignment.testrunID): \(assignment.work.packages.map(\.name).joined(separator: ", "))")
        onTaskStarted(assignment)
        let ending = await withTaskGroup(of: Ending?.self) { group -> Ending? in
            group.addTask {
                do {
                    return .finished(try await pipeline.run(assignment))
                } catch is CancellationError {
                    return nil
                } catch let error as WorkerError where error.code == .spool {
                    return .unspooled(error.message)
                } catch {
                    return .failed("\(error)")
                }
            }
            group.addTask {
                for await _ in stopped {
                    return .stopped("the server stopped it")
                }
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        do {
            switch ending {
            case .finished(let finish):
                try spool.add(.finish(taskID: assignment.taskID, finish))
                logger.info("task \(assignment.taskID) done: \(finish.verdict?.rawValue ?? finish.error?.message ?? "")")
            case .failed(let message):
                let finish = TaskFinish(
                    workerID: workerID,
                    error: TaskFinish.Failure(category: .infrastructure, message: "the worker failed running the task: \(message)"))
                try spool.add(.finish(taskID: assignment.taskID, finish))
                logger.error("task \(assignment.taskID) failed in the worker: \(message)")
            case .stopped(let reason):
                logger.info("task \(assignment.taskID) stopped: \(reason)")
            case .unspooled(let reason):
                // Reporting an end would only claim room the results lacked.
                logger.error("task \(assignment.taskID) is left to its lease, to run again: \(reason)")
            case nil:
                logger.info("task \(assignment.taskID) interrupted")
            }
        } catch {
            logger.error("cannot spool the end of task \(assignment.taskID): \(error)")
        }
    }
}

/// A worker process: its instances and the spool sender, as services.
public enum OTSWorkerProcess {
    public static func services(
        configuration: WorkerConfiguration, logger: Logger, http: HTTPClient = OTSClient.http,
        onTaskStarted: @escaping @Sendable (TaskAssignment) -> Void = { _ in }
    ) throws -> [any Service] {
        let spool = try Spool(directory: configuration.spoolDirectory, logger: logger)
        let client = OTSClient(baseURL: configuration.server, token: configuration.enrollmentSecret, http: http)
        let credentials = WorkerCredentials()
        let downloads = try OTSClient.downloads(trusting: configuration.caFile)
        // The spool is the process's; its own failure events go in the name
        // of its first instance, whose token they need.
        let sender = MonitorEvent.Sender(host: configuration.host, instance: configuration.instances.first?.name ?? "worker")
        var services: [any Service] = [SpoolSender(spool: spool, client: client, credentials: credentials, logger: logger, sender: sender)]
        for instance in configuration.instances {
            services.append(
                WorkerInstance(
                    instance: instance, configuration: configuration, client: client, credentials: credentials, spool: spool, http: http,
                    downloads: downloads, logger: logger, onTaskStarted: onTaskStarted))
        }
        return services
    }
}
