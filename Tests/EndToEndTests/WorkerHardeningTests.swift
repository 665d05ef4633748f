import Foundation
import OTSClient
import OTSCore
import Testing

/// A real worker against what a hostile or careless request asks: results
/// beyond 10 MB, an image that never ends, files it must not read.
@Suite(.serialized, .timeLimit(.minutes(10))) struct WorkerHardeningTests {
    /// A test definition in the farm's workspace (where `file` URLs may
    /// point) whose one case has `steps` steps, each printing `bytes` bytes.
    static func chattyDefinition(_ farm: TestFarm, steps: Int, bytes: Int) throws -> String {
        let step = "<step>head -c \(bytes) /dev/zero | tr '\\0' x; echo STEP-$((6 * 7))</step>\n"
        return try farm.workspace.write(
            "chatty.xml",
            """
            <?xml version="1.0" encoding="UTF-8"?>
            <testdefinition version="1.0"><suite name="chatty"><set name="output"><case name="prints-a-lot">
            \(String(repeating: step, count: steps))
            </case></set></suite></testdefinition>
            """)
    }

    static func withURL(_ definition: String) -> TestrunRequest {
        var submitted = request()
        submitted.testDefinitions = ["file://" + definition]
        return submitted
    }

    @Test func resultsBeyond10MBPassAndAreStored() async throws {
        try await TestFarm.with(engine: .sqlite, workers: [TestFarm.WorkerSpec(name: "w1")]) { farm in
            // 250 steps of 64,000 bytes each: 16 MB of results (each step's
            // output stays under the runner's inline limit).
            let definition = try Self.chattyDefinition(farm, steps: 250, bytes: 64_000)
            let submitted = try await farm.client.submit(Self.withURL(definition))
            let ended = try await farm.waitForEnd(submitted.id, timeout: 180)
            #expect(ended.verdict == .pass, "\(ended.summaryText)\n\(farm.logs)")
            let xml = try await farm.client.results(id: submitted.id, format: "xml")
            #expect(xml.count > 16_000_000, "the results are stored whole: \(xml.count) bytes")
            #expect(String(decoding: xml, as: UTF8.self).components(separatedBy: "STEP-42").count == 251, "every step's output is there")
        }
    }

    @Test func resultsBeyondTheLimitAreKeptOnTheWorkerAndTheTaskSaysWhere() async throws {
        var worker = TestFarm.WorkerSpec(name: "w1")
        worker.settings = "max_results_bytes = 1000000"
        try await TestFarm.with(engine: .sqlite, workers: [worker]) { farm in
            let definition = try Self.chattyDefinition(farm, steps: 20, bytes: 64_000)
            let submitted = try await farm.client.submit(Self.withURL(definition))
            let ended = try await farm.waitForEnd(submitted.id, timeout: 120)
            #expect(ended.verdict == .error)
            let message = ended.error?.message ?? ""
            #expect(message.contains("max_results_bytes = 1000000"), "\(ended.summaryText)")
            let kept = try #require(
                try FileManager.default.contentsOfDirectory(atPath: farm.workspace.file("spool-w1/kept")).first, "\(farm.logs)")
            #expect(message.contains("spool-w1/kept/" + kept), "names the file: \(message)")
            #expect(try #require(farm.workers["w1"]).stderr.contains(kept), "and the log says so")
        }
    }

    /// `file:///dev/zero` with a checksum used to be hashed for ever.
    @Test func aDeviceIsNeverReadAsAnImage() async throws {
        var worker = TestFarm.WorkerSpec(name: "w1")
        try await TestFarm.with(engine: .sqlite, workers: []) { farm in
            worker.imageDirectories = [farm.workspace.path, "/dev"]
            try farm.startWorker(worker)
            var zero = request(device: ["shell-basics"])
            zero.image = "file:///dev/zero"
            zero.imageChecksum = "sha256:" + String(repeating: "0", count: 64)
            let ended = try await farm.waitForEnd(try await farm.client.submit(zero).id, timeout: 30)
            #expect(ended.verdict == .error)
            #expect(ended.error?.category == .image)
            #expect(ended.error?.message.contains("is not a regular file") == true, "\(ended.summaryText)")
        }
    }

    /// A huge image being hashed: the server's stop ends it at once (the
    /// instance takes the next task), and so does SIGTERM.
    @Test func aStopAndSIGTERMEndTheHashingOfAHugeImage() async throws {
        var worker = TestFarm.WorkerSpec(name: "w1")
        worker.settings = "max_image_bytes = 4398046511104"
        try await TestFarm.with(engine: .sqlite, workers: [worker]) { farm in
            // 1 TiB, sparse: hours of hashing.
            let huge = farm.workspace.file("huge.img")
            #expect(FileManager.default.createFile(atPath: huge, contents: nil))
            #expect(truncate(huge, 1 << 40) == 0)
            var hashing = request(device: ["shell-basics"])
            hashing.image = "file://" + huge
            hashing.imageChecksum = "sha256:" + String(repeating: "0", count: 64)

            let first = try await farm.client.submit(hashing)
            _ = try await farm.waitFor(first.id, "the worker to take the task") { $0.tasks?.first?.worker != nil }
            _ = try await farm.client.cancel(id: first.id)
            let next = try await farm.client.submit(request(device: ["shell-basics"]))
            let ended = try await farm.waitForEnd(next.id, timeout: 30)
            #expect(ended.verdict == .pass, "the instance is free again: \(ended.summaryText)\n\(farm.logs)")
            let log = try #require(farm.workers["w1"]).stderr
            #expect(log.components(separatedBy: "the server stops task").count == 2, "said once: \(log)")

            let second = try await farm.client.submit(hashing)
            _ = try await farm.waitFor(second.id, "the worker to take the task") { $0.tasks?.first?.worker != nil }
            let process = try #require(farm.workers["w1"])
            process.kill(SIGTERM)
            #expect(try await process.waitForExit(timeout: 15), "SIGTERM ends the worker while it hashes\n\(farm.logs)")
        }
    }

    @Test func aFileURLOutsideTheImageFoldersTellsNothingOfTheFile() async throws {
        try await TestFarm.with(engine: .sqlite, workers: [TestFarm.WorkerSpec(name: "w1")]) { farm in
            var messages: [String] = []
            for path in ["/etc/shadow", "/etc/no-such-file"] {
                var probe = request(device: ["shell-basics"])
                probe.image = "file://" + path
                probe.imageChecksum = "sha256:" + String(repeating: "0", count: 64)
                let ended = try await farm.waitForEnd(try await farm.client.submit(probe).id)
                #expect(ended.verdict == .error)
                #expect(ended.error?.category == .user, "\(ended.summaryText)")
                messages.append((ended.error?.message ?? "").replacingOccurrences(of: path, with: "PATH"))
            }
            #expect(messages[0] == messages[1], "an existing file and a missing one are refused alike: \(messages)")
            #expect(messages[0].contains("image_dirs"), "\(messages)")
        }
    }

    @Test func aWorkerWithoutHostPackagesRefusesThemAndRunsNothing() async throws {
        var worker = TestFarm.WorkerSpec(name: "w1")
        worker.settings = "allow_host_packages = false"
        try await TestFarm.with(engine: .sqlite, workers: [worker]) { farm in
            var onHost = request()
            onHost.packages = .init(host: ["shell-basics"])
            let ended = try await farm.waitForEnd(try await farm.client.submit(onHost).id)
            #expect(ended.verdict == .error)
            #expect(ended.error?.category == .user)
            #expect(ended.error?.message.contains("allow_host_packages = false") == true, "\(ended.summaryText)")
            #expect(ended.tasks?.first?.flashTries == 0, "nothing is flashed")
            // Device packages still run.
            let device = try await farm.waitForEnd(try await farm.client.submit(request(device: ["shell-basics"])).id)
            #expect(device.verdict == .pass, "\(device.summaryText)")
        }
    }
}
