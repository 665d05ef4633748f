import Foundation
import OTSCore
import OTSTestSupport
import Testing

@testable import OTSWorker

@Suite struct SpoolTests {
    static let finish = Spool.Message.finish(taskID: "t1", TaskFinish(workerID: "w1", verdict: .pass))
    static let results = Spool.Message.results(taskID: "t1", workerID: "w1", package: "net-tests")
    static let file = Spool.Message.file(taskID: "t1", workerID: "w1", package: "net-tests", name: "dmesg.txt")
    static let events = Spool.Message.events([
        MonitorEvent(
            id: "e1", type: "task.started", emittedAt: Date(timeIntervalSince1970: 1_700_000_000),
            sender: .init(host: "rack-7", instance: "sim-1", pid: 42, version: "1.0"), taskID: "t1", attempt: 1)
    ])

    /// The spool's file name of message `number`.
    static func name(_ number: Int, _ suffix: String = "json") -> String { String(format: "%016ld", number) + "." + suffix }

    /// The message set aside under `name`.
    static func rejected(_ name: String, in folder: TemporaryDirectory) throws -> Spool.Message {
        try JSONCoding.decoder().decode(Spool.Message.self, from: Data(contentsOf: URL(fileURLWithPath: folder.file("rejected/" + name))))
    }

    @Test func messagesWaitInTheOrderTheyWereAdded() throws {
        let folder = try TemporaryDirectory()
        let spool = try Spool(directory: folder.path)
        #expect(spool.pending.isEmpty)

        try spool.add(Self.events)
        try spool.add(Self.finish)
        try spool.add(Self.file, data: Array("x".utf8))

        #expect(spool.pending == [Self.name(1), Self.name(2), Self.name(3)])
        #expect(try spool.pending.map { try spool.read($0).0 } == [Self.events, Self.finish, Self.file])
    }

    @Test func messagesSurviveARestart() throws {
        let folder = try TemporaryDirectory()
        let before = try Spool(directory: folder.path)
        try before.add(Self.events)
        try before.add(Self.results, data: Array("<results/>".utf8))

        let after = try Spool(directory: folder.path)

        #expect(after.pending == [Self.name(1), Self.name(2)])
        let (first, firstData) = try after.read(Self.name(1))
        let (second, secondData) = try after.read(Self.name(2))
        #expect(first == Self.events)
        #expect(firstData == nil)
        #expect(second == Self.results)
        #expect(secondData == Data("<results/>".utf8))
    }

    @Test func numbersContinueAfterARestart() throws {
        let folder = try TemporaryDirectory()
        let before = try Spool(directory: folder.path)
        try before.add(Self.events)
        try before.add(Self.finish)
        before.remove(Self.name(1))

        let after = try Spool(directory: folder.path)
        try after.add(Self.results, data: [1, 2, 3])

        #expect(after.pending == [Self.name(2), Self.name(3)])
        #expect(try after.read(Self.name(2)).0 == Self.finish)
        #expect(try after.read(Self.name(3)).0 == Self.results)
    }

    @Test func aMessageKeepsItsData() throws {
        let folder = try TemporaryDirectory()
        let spool = try Spool(directory: folder.path)
        let bytes: [UInt8] = [0, 255, 10, 13] + Array("dmesg line\n".utf8)

        try spool.add(Self.file, data: bytes)
        try spool.add(Self.results, data: [])

        let (message, data) = try spool.read(Self.name(1))
        #expect(message == Self.file)
        #expect(data.map(Array.init) == bytes)
        #expect(try spool.read(Self.name(2)).1 == Data())
    }

    @Test func removeDeletesTheMessageAndItsData() throws {
        let folder = try TemporaryDirectory()
        let spool = try Spool(directory: folder.path)
        try spool.add(Self.results, data: [1])
        try spool.add(Self.finish)

        spool.remove(Self.name(1))

        #expect(spool.pending == [Self.name(2)])
        #expect(!folder.exists(Self.name(1, "data")))
    }

    @Test func rejectSetsTheMessageAndItsDataAside() throws {
        let folder = try TemporaryDirectory()
        let spool = try Spool(directory: folder.path)
        try spool.add(Self.results, data: Array("<results/>".utf8))
        try spool.add(Self.finish)
        let data = Self.name(1, "data")

        spool.reject(Self.name(1))

        #expect(spool.pending == [Self.name(2)])
        #expect(!folder.exists(data))
        #expect(folder.exists("rejected/" + Self.name(1)))
        #expect(try folder.contents("rejected/" + data) == "<results/>")
        #expect(try Self.rejected(Self.name(1), in: folder) == Self.results)
    }

    @Test func aMessageRejectedAfterARestartIsSetAside() throws {
        let folder = try TemporaryDirectory()
        let before = try Spool(directory: folder.path)
        try before.add(Self.finish)
        before.reject(Self.name(1))

        let after = try Spool(directory: folder.path)
        try after.add(Self.results)
        let name = try #require(after.pending.first)
        after.reject(name)

        #expect(after.pending.isEmpty)
        #expect(try Self.rejected(name, in: folder) == Self.results)
    }

    @Test func aFolderThatCannotBeMadeIsASpoolError() throws {
        let folder = try TemporaryDirectory()
        let blocker = try folder.write("blocker", "a file, not a folder")

        let error = try #require(throws: WorkerError.self) { try Spool(directory: blocker + "/spool") }

        #expect(error.code == .spool)
        #expect(error.message.contains(blocker + "/spool"))
    }
}

@Suite struct SpoolReportTests {
    @Test func theTasksWithReportsWaitingAreTheInstancesOwn() throws {
        let folder = try TemporaryDirectory()
        let spool = try Spool(directory: folder.path)
        try spool.add(SpoolTests.events)
        try spool.add(.results(taskID: "t1", workerID: "w1", package: "net-tests"), data: [1])
        try spool.add(.finish(taskID: "t1", TaskFinish(workerID: "w1", verdict: .pass)))
        try spool.add(.finish(taskID: "t2", TaskFinish(workerID: "w2", verdict: .pass)))
        try spool.add(.file(taskID: "t3", workerID: "w1", package: "net-tests", name: "dmesg.txt"), data: [2])

        #expect(spool.tasksWithReports(of: "w1") == ["t1", "t3"])
        #expect(spool.tasksWithReports(of: "w2") == ["t2"])

        spool.remove(SpoolTests.name(2))
        spool.reject(SpoolTests.name(5))
        #expect(spool.tasksWithReports(of: "w1") == ["t1"], "t1's finish still waits")
        spool.remove(SpoolTests.name(3))
        #expect(spool.tasksWithReports(of: "w1").isEmpty)
    }

    @Test func theTasksWithReportsWaitingSurviveARestart() throws {
        let folder = try TemporaryDirectory()
        let before = try Spool(directory: folder.path)
        try before.add(.finish(taskID: "t1", TaskFinish(workerID: "w1", verdict: .pass)))

        let after = try Spool(directory: folder.path)

        #expect(after.tasksWithReports(of: "w1") == ["t1"])
    }

    @Test func aWriteCutShortLeavesNoMessage() throws {
        let folder = try TemporaryDirectory()
        try folder.write(SpoolTests.name(1) + ".tmp", "{\"fini")
        try folder.write(SpoolTests.name(1, "data") + ".tmp", "<resu")

        let spool = try Spool(directory: folder.path)

        #expect(spool.pending.isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["rejected"])
    }
}

/// The spool on a disk that fills up: a tmpfs of its own.
@Suite(.serialized, .timeLimit(.minutes(5))) struct SpoolDiskFullTests {
    /// Every file in the spool folder is a whole message or its data.
    static func expectNoPartialFile(in path: String) throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: path).filter { $0 != "rejected" && $0 != "filler" }
        for file in files {
            #expect(file.hasSuffix(".json") || file.hasSuffix(".data"), "no temporary or partial file: \(file)")
            if file.hasSuffix(".json") {
                #expect(throws: Never.self) {
                    try JSONCoding.decoder().decode(Spool.Message.self, from: Data(contentsOf: URL(fileURLWithPath: path + "/" + file)))
                }
            } else {
                #expect(files.contains(String(file.dropLast(5)) + ".json"), "\(file) belongs to a message")
            }
        }
    }

    @Test(.enabled(if: SmallFilesystem.canMount, "mounting a small tmpfs needs root"))
    func aFullDiskIsAClearErrorThatLeavesTheSpoolWholeAndPasses() throws {
        let folder = try TemporaryDirectory()
        let disk = try #require(SmallFilesystem.mount(at: folder.file("disk"), kilobytes: 256), "root may mount a tmpfs")
        defer { disk.unmount() }
        let spool = try Spool(directory: disk.path + "/spool")
        try spool.add(SpoolTests.events)
        try spool.add(SpoolTests.results, data: Array("<results/>".utf8))
        disk.fill()

        let big = [UInt8](repeating: 0x41, count: 64 * 1024)
        let error = try #require(throws: WorkerError.self) { try spool.add(SpoolTests.file, data: big) }
        let again = try #require(throws: WorkerError.self) { try spool.add(SpoolTests.finish) }

        #expect(error.code == .spool)
        #expect(error.message.contains(disk.path + "/spool"), "\(error.message)")
        #expect(error.message.contains("No space left on device"), "\(error.message)")
        #expect(again.message.contains("No space left on device"))
        #expect(spool.failure == error.message || spool.failure == again.message)
        #expect(spool.unreportedFailure == error.message, "the first failure waits to be reported")
        #expect(spool.pending == [SpoolTests.name(1), SpoolTests.name(2)], "what was spooled before is still there")
        try Self.expectNoPartialFile(in: disk.path + "/spool")

        disk.free()
        try spool.add(SpoolTests.finish)

        #expect(spool.failure == nil)
        #expect(spool.pending == [SpoolTests.name(1), SpoolTests.name(2), SpoolTests.name(5)])
        #expect(try spool.pending.map { try spool.read($0).0 } == [SpoolTests.events, SpoolTests.results, SpoolTests.finish])
        #expect(try spool.read(SpoolTests.name(2)).1 == Data("<results/>".utf8))
        try Self.expectNoPartialFile(in: disk.path + "/spool")
    }

    /// Room for a small message is not room for the results that failed:
    /// neither a small message nor the probe counts as writable again.
    @Test(.enabled(if: SmallFilesystem.canMount, "mounting a small tmpfs needs root"))
    func aSmallWriteThatFitsIsNotRoomForTheResultsThatFailed() async throws {
        let folder = try TemporaryDirectory()
        let disk = try #require(SmallFilesystem.mount(at: folder.file("disk"), kilobytes: 1024), "root may mount a tmpfs")
        defer { disk.unmount() }
        let spool = try Spool(directory: disk.path + "/spool")
        disk.fill(leaving: 148)
        let results = [UInt8](repeating: 0x41, count: 300 * 1024)
        #expect(throws: WorkerError.self) { try spool.add(SpoolTests.results, data: results) }
        try spool.add(SpoolTests.events)
        #expect(spool.failure != nil, "an event that fits does not make room for the results")

        let probing = await withTaskGroup(of: Bool.self) { group in
            group.addTask { (try? await spool.waitUntilWritable(interval: .milliseconds(10))) != nil }
            group.addTask {
                try? await Task.sleep(for: .milliseconds(500))
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        #expect(!probing, "fifty probe writes that fit are not room for the results either")
        #expect(spool.failure != nil)

        disk.free()
        try await spool.waitUntilWritable(interval: .milliseconds(10))
        #expect(spool.failure == nil)
        try spool.add(SpoolTests.results, data: results)
    }

    @Test(.enabled(if: SmallFilesystem.canMount, "mounting a small tmpfs needs root"), .timeLimit(.minutes(1)))
    func theSpoolWaitsUntilItCanBeWrittenAgain() async throws {
        let folder = try TemporaryDirectory()
        let disk = try #require(SmallFilesystem.mount(at: folder.file("disk"), kilobytes: 64), "root may mount a tmpfs")
        defer { disk.unmount() }
        let spool = try Spool(directory: disk.path + "/spool")
        disk.fill()
        #expect(throws: WorkerError.self) { try spool.add(SpoolTests.finish) }
        #expect(spool.failure != nil)

        disk.free()
        try await spool.waitUntilWritable(interval: .milliseconds(10))

        #expect(spool.failure == nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: disk.path + "/spool") == ["rejected"], "the probe leaves nothing")
    }
}
