import Foundation
import Logging
import OTSClient
import OTSCore
import OTSTestSupport
import Testing

@testable import OTSWorker

/// What a worker's operator does not allow is refused before anything
/// runs, with an error of category `user` naming the setting; results too
/// large for the server stay on the worker.
@Suite struct PipelinePolicyTests {
    /// A pipeline whose host packages are in `packages/`, and whose file
    /// URLs may point into `images/`.
    static func pipeline(in folder: TemporaryDirectory, configure: (inout Pipeline) -> Void = { _ in }) throws -> Pipeline {
        var instance = WorkerConfiguration.Instance(
            name: "sim", device: DeviceProperties(devicegroup: "demo"), adapter: .simulated(SimulatedDevice()))
        instance.packagesDirectory = folder.file("packages")
        var pipeline = Pipeline(
            instance: instance, workerID: "host/sim", sender: MonitorEvent.Sender(host: "host", instance: "sim"),
            adapter: SimulatedDeviceAdapter(SimulatedDevice()),
            images: ImageCache(directory: folder.file("cache"), policy: URLPolicy(fileDirectories: [folder.file("images")])),
            spool: try Spool(directory: folder.file("spool")), workDirectory: folder.file("work"), client: nil,
            logger: Logger(label: "ots.test"))
        configure(&pipeline)
        return pipeline
    }

    static func task(_ packages: [TaskWork.Package], image: String? = nil, definitions: [String] = []) -> TaskAssignment {
        TaskAssignment(
            taskID: "t1", testrunID: "run", attempt: 1, image: image, swProduct: nil, device: DeviceProperties(devicegroup: "demo"),
            work: TaskWork(packages: packages), testfilter: nil, flasherOptions: nil, detailLevel: .package, executionTimeout: 60)
    }

    /// A package whose one step writes `marker` (so that a test knows it ran) and prints `bytes` bytes.
    @discardableResult
    static func package(_ name: String, in folder: TemporaryDirectory, printing bytes: Int = 10) throws -> String {
        let marker = folder.file("ran-" + name)
        try folder.write(
            "packages/\(name)/tests.xml",
            """
            <?xml version="1.0" encoding="UTF-8"?>
            <testdefinition version="1.0"><suite name="\(name)"><set name="set"><case name="case">
            <step>touch \(marker); head -c \(bytes) /dev/zero | tr '\\0' x</step>
            </case></set></suite></testdefinition>
            """)
        return marker
    }

    /// The types of the events the pipeline spooled.
    static func eventTypes(_ spool: Spool) throws -> [EventType] {
        try spool.pending.flatMap { name -> [EventType] in
            guard case .events(let batch) = try spool.read(name).0 else { return [] }
            return batch.map(\.type)
        }
    }

    @Test func withoutHostPackagesATaskThatNeedsTheHostIsRefusedAndNothingRuns() async throws {
        let folder = try TemporaryDirectory()
        let marker = try Self.package("on-host", in: folder)
        let pipeline = try Self.pipeline(in: folder) { $0.allowHostPackages = false }

        let finish = try await pipeline.run(Self.task([TaskWork.Package(name: "on-host", location: .host)], image: "file:///dev/null"))

        let error = try #require(finish.error, "\(finish)")
        #expect(error.category == .user)
        #expect(error.message.contains("allow_host_packages = false"), "\(error.message)")
        #expect(error.message.contains("on-host"), "names the package: \(error.message)")
        #expect(!FileManager.default.fileExists(atPath: marker), "no step ran")
        let types = try Self.eventTypes(pipeline.spool)
        #expect(!types.contains(.flashStarted) && !types.contains(.packageStarted), "nothing was flashed or run: \(types)")
    }

    @Test func withoutHostPackagesADefinitionByURLOnTheLocalExecutorIsRefused() async throws {
        let folder = try TemporaryDirectory()
        let definition = try folder.write("images/tests.xml", "<testdefinition version='1.0'/>")
        let pipeline = try Self.pipeline(in: folder) { $0.allowHostPackages = false }
        let finish = try await pipeline.run(Self.task([TaskWork.Package(name: "file://" + definition, location: .url)]))
        #expect(finish.error?.category == .user)
        #expect(finish.error?.message.contains("allow_host_packages") == true, "\(finish)")
    }

    @Test func withHostPackagesAllowedTheyRun() async throws {
        let folder = try TemporaryDirectory()
        let marker = try Self.package("on-host", in: folder)
        let pipeline = try Self.pipeline(in: folder)
        let finish = try await pipeline.run(Self.task([TaskWork.Package(name: "on-host", location: .host)]))
        #expect(finish.verdict == .pass, "\(finish)")
        #expect(FileManager.default.fileExists(atPath: marker))
    }

    @Test(arguments: ["file:///etc/passwd", "file:///no/such/image.bin", "file:///dev/zero", "ftp://images.lab/image.bin"])
    func anImageURLTheWorkerDoesNotAllowIsTheUsersErrorAndNothingIsFlashed(url: String) async throws {
        let folder = try TemporaryDirectory()
        try Self.package("on-device", in: folder)
        let pipeline = try Self.pipeline(in: folder)
        let finish = try await pipeline.run(Self.task([TaskWork.Package(name: "on-device", location: .device)], image: url))
        let error = try #require(finish.error, "\(finish)")
        #expect(error.category == .user)
        #expect(error.message.contains(url.hasPrefix("file") ? "image_dirs" : "is not file, http or https"), "\(error.message)")
        #expect(!(try Self.eventTypes(pipeline.spool)).contains(.flashStarted))
    }

    @Test func anHTTPImageOutsideTheAllowedPrefixesIsRefused() async throws {
        let folder = try TemporaryDirectory()
        let pipeline = try Self.pipeline(in: folder) {
            $0 = Pipeline(
                instance: $0.instance, workerID: $0.workerID, sender: $0.sender, adapter: $0.adapter,
                images: ImageCache(directory: folder.file("cache"), policy: URLPolicy(allowedPrefixes: ["https://images.lab/"])),
                spool: $0.spool, workDirectory: $0.workDirectory, client: nil, logger: $0.logger)
        }
        let finish = try await pipeline.run(Self.task([], image: "http://127.0.0.1:9/internal"))
        #expect(finish.error?.category == .user)
        #expect(finish.error?.message.contains("allowed_url_prefixes (https://images.lab/)") == true, "\(finish)")
    }

    @Test func aDefinitionByURLOutsideTheImageFoldersIsRefused() async throws {
        let folder = try TemporaryDirectory()
        let outside = try folder.write("elsewhere/tests.xml", "<testdefinition version='1.0'/>")
        let pipeline = try Self.pipeline(in: folder)
        let finish = try await pipeline.run(Self.task([TaskWork.Package(name: "file://" + outside, location: .url)]))
        #expect(finish.error?.category == .user)
        #expect(finish.error?.message.contains("image_dirs") == true, "\(finish)")
    }

    @Test func resultsLargerThanTheServerTakesAreKeptOnTheWorkerAndTheTaskSaysWhere() async throws {
        let folder = try TemporaryDirectory()
        try Self.package("chatty", in: folder, printing: 20_000)
        let pipeline = try Self.pipeline(in: folder) { $0.maxResultsBytes = 10_000 }

        let finish = try await pipeline.run(Self.task([TaskWork.Package(name: "chatty", location: .host)]))

        let error = try #require(finish.error, "\(finish)")
        #expect(error.message.contains("max_results_bytes = 10000"), "\(error.message)")
        let kept = folder.file("spool/kept/t1-1-chatty.xml")
        #expect(error.message.contains(kept), "names where they are: \(error.message)")
        let xml = try #require(FileManager.default.contents(atPath: kept))
        #expect(xml.count > 20_000)
        let messages = try pipeline.spool.pending.map { try pipeline.spool.read($0).0 }
        #expect(!messages.contains { if case .results = $0 { true } else { false } }, "no results are sent")
    }
}
