import Foundation
import Logging
import OTSClient
import OTSCore
import OTSTestSupport
import Testing

@testable import OTSWorker

@Suite(.timeLimit(.minutes(5))) struct SpoolSenderTests {
    /// Nothing listens on the discard port of the loopback address.
    static let unreachable = OTSClient(baseURL: "http://127.0.0.1:9")
    static let logger = Logger(label: "ots.worker.test", factory: { _ in SwiftLogNoOpLogHandler() })

    /// The spool's file name of message `number`.
    static func name(_ number: Int, _ suffix: String = "json") -> String { String(format: "%016ld", number) + "." + suffix }

    @Test func anUnreachableServerLeavesTheSpoolAsItWas() async throws {
        let folder = try TemporaryDirectory()
        let spool = try Spool(directory: folder.path)
        let results = Spool.Message.results(taskID: "t1", workerID: "w1", package: "net-tests")
        let finish = Spool.Message.finish(taskID: "t1", TaskFinish(workerID: "w1", verdict: .fail))
        try spool.add(results, data: Array("<results/>".utf8))
        try spool.add(finish)
        let sender = SpoolSender(spool: spool, client: Self.unreachable, logger: Self.logger)

        let progress = await sender.sendSome()

        #expect(progress == .unreachable)
        #expect(spool.pending == [Self.name(1), Self.name(2)])
        let (message, data) = try spool.read(Self.name(1))
        #expect(message == results)
        #expect(data == Data("<results/>".utf8))
        #expect(try spool.read(Self.name(2)).0 == finish)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.file("rejected")).isEmpty)
    }

    @Test func anEmptySpoolIsIdle() async throws {
        let folder = try TemporaryDirectory()
        let sender = SpoolSender(spool: try Spool(directory: folder.path), client: Self.unreachable, logger: Self.logger)

        #expect(await sender.sendSome() == .idle)
    }

    @Test func anUnreadableMessageIsSetAsideSoItBlocksNothing() async throws {
        let folder = try TemporaryDirectory()
        try folder.write(Self.name(1), "not a message")
        let spool = try Spool(directory: folder.path)
        try spool.add(.finish(taskID: "t1", TaskFinish(workerID: "w1", verdict: .pass)))
        let sender = SpoolSender(spool: spool, client: Self.unreachable, logger: Self.logger)

        let progress = await sender.sendSome()

        #expect(progress == .progress)
        #expect(spool.pending == [Self.name(2)])
        #expect(try folder.contents("rejected/" + Self.name(1)) == "not a message")
    }
}
