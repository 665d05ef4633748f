import Foundation
import Logging
import OTSClient
import OTSCore
import OTSTestSupport
import Testing

@testable import OTSWorker

/// A task balancing hands to a device that holds its image runs without
/// flashing or booting again, when the instance knows the device holds it.
@Suite struct PipelineDeviceTests {
    static func pipeline(in folder: TemporaryDirectory) throws -> Pipeline {
        Pipeline(
            instance: WorkerConfiguration.Instance(
                name: "sim", device: DeviceProperties(devicegroup: "demo"), adapter: .simulated(SimulatedDevice())),
            workerID: "host/sim", sender: MonitorEvent.Sender(host: "host", instance: "sim"),
            adapter: SimulatedDeviceAdapter(SimulatedDevice()),
            images: ImageCache(directory: folder.file("images"), policy: URLPolicy(fileDirectories: [folder.path])),
            spool: try Spool(directory: folder.file("spool")), workDirectory: folder.file("work"), client: nil,
            logger: Logger(label: "ots.test"))
    }

    static func task(_ id: String, image: String, holds: Bool) -> TaskAssignment {
        var task = TaskAssignment(
            taskID: id, testrunID: "run", attempt: 1, image: image, swProduct: nil, device: DeviceProperties(devicegroup: "demo"),
            work: TaskWork(packages: []), testfilter: nil, flasherOptions: nil, detailLevel: .package, executionTimeout: 60)
        task.deviceHoldsImage = holds
        return task
    }

    /// The device events each task sent, by task.
    static func deviceEvents(_ spool: Spool) throws -> [String: [EventType]] {
        var events: [String: [EventType]] = [:]
        for name in spool.pending {
            guard case .events(let batch) = try spool.read(name).0 else { continue }
            for event in batch where event.type.rawValue.hasPrefix("device.") {
                events[event.taskID ?? "", default: []].append(event.type)
            }
        }
        return events
    }

    @Test func onlyATaskOnTheHeldImageSkipsFlashAndBoot() async throws {
        let folder = try TemporaryDirectory()
        let image = try folder.write("image.bin", "an image")
        let other = try folder.write("other.bin", "another image")
        let pipeline = try Self.pipeline(in: folder)

        #expect(try await pipeline.run(Self.task("t1", image: "file://" + image, holds: false)).verdict == .pass)
        #expect(try await pipeline.run(Self.task("t2", image: "file://" + image, holds: true)).verdict == .pass)
        // The server believes the device holds another image: the instance knows better.
        #expect(try await pipeline.run(Self.task("t3", image: "file://" + other, holds: true)).verdict == .pass)
        // Not told it holds the image: flashed, even though it does.
        #expect(try await pipeline.run(Self.task("t4", image: "file://" + other, holds: false)).verdict == .pass)

        let events = try Self.deviceEvents(pipeline.spool)
        let flashAndBoot: [EventType] = [.flashStarted, .flashFinished, .bootStarted, .bootFinished]
        #expect(events["t1"] == flashAndBoot)
        #expect(events["t2"] == nil, "the device holds the image: \(events["t2"] ?? [])")
        #expect(events["t3"] == flashAndBoot)
        #expect(events["t4"] == flashAndBoot)
    }

    @Test func aFailedFlashForgetsTheImage() async throws {
        let folder = try TemporaryDirectory()
        let image = try folder.write("image.bin", "an image")
        var pipeline = try Self.pipeline(in: folder)
        #expect(try await pipeline.run(Self.task("t1", image: "file://" + image, holds: false)).verdict == .pass)
        pipeline = Pipeline(
            instance: pipeline.instance, workerID: pipeline.workerID, sender: pipeline.sender,
            adapter: SimulatedDeviceAdapter(SimulatedDevice(flash: .init(failureProbability: 1))), images: pipeline.images,
            spool: pipeline.spool, workDirectory: pipeline.workDirectory, client: nil, logger: pipeline.logger,
            device: pipeline.device)
        #expect(try await pipeline.run(Self.task("t2", image: "file://" + image, holds: false)).error?.category == .device)
        #expect(pipeline.device.image == nil, "after a failed flash the device holds nothing known")
    }
}
