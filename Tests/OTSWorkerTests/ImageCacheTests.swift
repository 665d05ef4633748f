import Foundation
import Testing

@testable import OTSWorker

/// The image cache against a real HTTP server (Python's http.server on a
/// loopback port) and real files.
@Suite(.serialized) struct ImageCacheTests {
    /// A static file server whose request log tells what was fetched.
    final class FileServer: @unchecked Sendable {
        // Only the owning test touches it.
        let process = Process()
        let folder: String
        let log: String
        let port: Int

        init() throws {
            folder = FileManager.default.temporaryDirectory.path + "/ots-images-" + UUID().uuidString
            try FileManager.default.createDirectory(atPath: folder + "/www", withIntermediateDirectories: true)
            log = folder + "/requests.log"
            FileManager.default.createFile(atPath: log, contents: nil)
            port = Int.random(in: 20_000...40_000)
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", "-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", folder + "/www"]
            process.standardError = FileHandle(forWritingAtPath: log)
            process.standardOutput = FileHandle.nullDevice
            try process.run()
        }

        func ready() async throws {
            for _ in 0..<100 {
                if (try? String(contentsOfFile: log, encoding: .utf8))?.contains("Serving") == true { return }
                let socket = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                var address = sockaddr_in()
                address.sin_family = sa_family_t(AF_INET)
                address.sin_port = in_port_t(UInt16(port).bigEndian)
                address.sin_addr.s_addr = inet_addr("127.0.0.1")
                let connected = withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
                close(socket)
                if connected == 0 { return }
                try await Task.sleep(for: .milliseconds(50))
            }
            throw CocoaError(.fileReadUnknown)
        }

        func requests(_ method: String) -> Int {
            ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").components(separatedBy: "\"\(method) ").count - 1
        }

        func stop() {
            // SIGKILL: a child of the test process may inherit a blocked SIGTERM.
            kill(process.processIdentifier, SIGKILL)
            while process.isRunning { usleep(10_000) }
            try? FileManager.default.removeItem(atPath: folder)
        }
    }

    static let content = Data("an image, byte for byte\n".utf8)
    static let checksum = "sha256:" + "4e3c4a0d0c85a0a1e3d5a4b3b9d0e1f1c4d6a1c6a0e7b2b5b3f0d9a8c7e6f5d4"

    func withServer(_ body: (FileServer, ImageCache) async throws -> Void) async throws {
        let server = try FileServer()
        defer { server.stop() }
        try Self.content.write(to: URL(fileURLWithPath: server.folder + "/www/image.bin"))
        try await server.ready()
        try await body(server, ImageCache(directory: server.folder + "/cache"))
    }

    var realChecksum: String { get throws { "sha256:" + (try ImageCache.sha256(of: tempImage())) } }

    func tempImage() throws -> String {
        let path = FileManager.default.temporaryDirectory.path + "/ots-image-\(UUID().uuidString).bin"
        try Self.content.write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func fileImagesAreUsedInPlaceAndVerified() async throws {
        let path = try tempImage()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let cache = ImageCache(directory: FileManager.default.temporaryDirectory.path + "/unused")
        #expect(try await cache.path(for: "file://" + path) == path)
        #expect(try await cache.path(for: "file://" + path, checksum: try realChecksum) == path)
        await #expect(throws: WorkerError.self) { try await cache.path(for: "file://" + path, checksum: Self.checksum) }
        await #expect(throws: WorkerError.self) { try await cache.path(for: "file:///no/such/image.bin") }
    }

    @Test func downloadsAreReusedWhileTheServerReportsTheSameFile() async throws {
        try await withServer { server, cache in
            let url = "http://127.0.0.1:\(server.port)/image.bin"
            let first = try await cache.path(for: url)
            #expect(FileManager.default.contents(atPath: first) == Self.content)
            #expect(server.requests("GET") == 1)
            let second = try await cache.path(for: url)
            #expect(second == first)
            #expect(server.requests("GET") == 1, "the cached copy is reused")
            #expect(server.requests("HEAD") == 2)
        }
    }

    @Test func aChecksumDecidesReuseAndRefusesAWrongImage() async throws {
        try await withServer { server, cache in
            let url = "http://127.0.0.1:\(server.port)/image.bin"
            do {
                _ = try await cache.path(for: url, checksum: Self.checksum)
                Issue.record("a wrong checksum was accepted")
            } catch let error as WorkerError {
                #expect(error.code == .image)
                #expect(error.message.contains("does not match its checksum"))
            }
            #expect(!FileManager.default.fileExists(atPath: cache.cachePath(for: url)), "nothing wrong is kept")
            let path = try await cache.path(for: url, checksum: try realChecksum)
            #expect(FileManager.default.contents(atPath: path) == Self.content)
            let gets = server.requests("GET")
            _ = try await cache.path(for: url, checksum: try realChecksum)
            #expect(server.requests("GET") == gets, "a cached file with the checksum is not fetched again")
            #expect(server.requests("HEAD") == 0)
        }
    }

    @Test func aMissingImageIsTheImagesFault() async throws {
        try await withServer { server, cache in
            do {
                _ = try await cache.path(for: "http://127.0.0.1:\(server.port)/missing.bin")
                Issue.record("a missing image was accepted")
            } catch let error as WorkerError {
                #expect(error.code == .image)
                #expect(error.message.contains("404"), "\(error.message)")
            }
        }
    }
}
