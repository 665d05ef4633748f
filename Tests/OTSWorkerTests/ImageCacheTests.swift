import Foundation
import OTSTestSupport
import Testing

@testable import OTSWorker

/// The image cache against a real HTTP server (Python's http.server on a
/// loopback port) and real files.
@Suite(.serialized, .timeLimit(.minutes(5))) struct ImageCacheTests {
    /// A static file server whose request log tells what was fetched.
    final class FileServer: @unchecked Sendable {
        // Only the owning test touches it.
        let process = Process()
        let folder: String
        let log: String
        let port: Int

        /// Answers the paths of `redirects` with a 302 to their value.
        static let redirectingServer = """
            import functools, http.server, sys
            redirects = dict(argument.split("=", 1) for argument in sys.argv[3:])
            class Handler(http.server.SimpleHTTPRequestHandler):
                def send_head(self):
                    if self.path in redirects:
                        self.send_response(302)
                        self.send_header("Location", redirects[self.path])
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return None
                    return super().send_head()
            handler = functools.partial(Handler, directory=sys.argv[2])
            http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), handler).serve_forever()
            """

        init(redirects: [String: String] = [:]) throws {
            folder = FileManager.default.temporaryDirectory.path + "/ots-images-" + UUID().uuidString
            try FileManager.default.createDirectory(atPath: folder + "/www", withIntermediateDirectories: true)
            log = folder + "/requests.log"
            FileManager.default.createFile(atPath: log, contents: nil)
            port = Int.random(in: 20_000...40_000)
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments =
                redirects.isEmpty
                ? ["python3", "-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", folder + "/www"]
                : ["python3", "-c", Self.redirectingServer, String(port), folder + "/www"] + redirects.map { $0.key + "=" + $0.value }
            process.standardError = FileHandle(forWritingAtPath: log)
            process.standardOutput = FileHandle.nullDevice
            try process.run()
        }

        func ready() async throws {
            try await eventually("the image server to listen on \(port)", within: .seconds(5), every: .milliseconds(50)) {
                if (try? String(contentsOfFile: log, encoding: .utf8))?.contains("Serving") == true { return true }
                return SSHServer.canConnect(port: port)
            }
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

    /// A redirect is followed only where the policy allows: within the
    /// allowed prefixes, never to a file.
    @Test func redirectsAreFollowedOnlyWhereThePolicyAllows() async throws {
        let server = try FileServer(redirects: [
            "/moved.bin": "/image.bin", "/away.bin": "http://127.0.0.2:9/secret", "/file.bin": "file:///etc/passwd",
        ])
        defer { server.stop() }
        try Self.content.write(to: URL(fileURLWithPath: server.folder + "/www/image.bin"))
        try await server.ready()
        let base = "http://127.0.0.1:\(server.port)/"
        let cache = ImageCache(directory: server.folder + "/cache", policy: URLPolicy(allowedPrefixes: [base]))

        let moved = try await cache.path(for: base + "moved.bin", checksum: realChecksum)
        #expect(FileManager.default.contents(atPath: moved) == Self.content)
        let away = try await #require(throws: WorkerError.self) { try await cache.path(for: base + "away.bin") }
        #expect(away.code == .refused)
        #expect(away.message.contains("http://127.0.0.2:9/secret"), "\(away.message)")
        #expect(away.message.contains("allowed_url_prefixes"), "\(away.message)")
        let file = try await #require(throws: WorkerError.self) { try await cache.path(for: base + "file.bin") }
        #expect(file.code == .refused, "\(file.message)")
    }

    /// The SHA-256 of `content` (`sha256sum`).
    static let contentHash = "9123b0f99ed339d367ff909608e6005da7516bd3a8df9fb0964964ceb0f67ec1"
    var realChecksum: String { "sha256:" + Self.contentHash }

    func tempImage() throws -> String {
        let path = FileManager.default.temporaryDirectory.path + "/ots-image-\(UUID().uuidString).bin"
        try Self.content.write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func fileImagesAreUsedInPlaceAndVerified() async throws {
        let path = try tempImage()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let cache = ImageCache(
            directory: FileManager.default.temporaryDirectory.path + "/unused",
            policy: URLPolicy(fileDirectories: [FileManager.default.temporaryDirectory.path]))
        #expect(try await cache.path(for: "file://" + path) == path)
        #expect(try await cache.path(for: "file://" + path, checksum: realChecksum) == path)
        await #expect(throws: WorkerError.self) { try await cache.path(for: "file://" + path, checksum: Self.checksum) }
        await #expect(throws: WorkerError.self) { try await cache.path(for: "file:///no/such/image.bin") }
    }

    /// A wrong checksum says what was expected, never the hash of the file
    /// (which would tell anyone who may submit the hash of any file the
    /// worker can read).
    @Test func aWrongChecksumNeverTellsTheFilesHash() async throws {
        let folder = try TemporaryDirectory()
        let path = folder.file("image.bin")
        try Self.content.write(to: URL(fileURLWithPath: path))
        chmod(path, 0o600)
        let cache = ImageCache(directory: folder.file("cache"), policy: URLPolicy(fileDirectories: [folder.path]))
        let error = try await #require(throws: WorkerError.self) { try await cache.path(for: "file://" + path, checksum: Self.checksum) }
        #expect(error.code == .image)
        #expect(error.message.contains("does not match its checksum"), "\(error.message)")
        #expect(error.message.contains(Self.checksum), "names what was expected: \(error.message)")
        #expect(!error.message.contains(Self.contentHash), "\(error.message)")
    }

    /// Outside `image_dirs` a file URL is refused in the same words whether
    /// its path exists, cannot be read or does not exist.
    @Test func fileURLsOutsideTheImageFoldersAreRefusedAlike() async throws {
        let folder = try TemporaryDirectory()
        let secret = try folder.write("secret/key", "secret")
        chmod(secret, 0o000)
        try FileManager.default.createDirectory(atPath: folder.file("images"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: folder.file("images/link"), withDestinationPath: secret)
        let cache = ImageCache(directory: folder.file("cache"), policy: URLPolicy(fileDirectories: [folder.file("images")]))
        let urls = [
            "file://" + secret, "file://" + folder.file("secret/missing"), "file://" + folder.file("images/../secret/key"),
            "file://" + folder.file("images/link"), "file:///etc/shadow", "file:///etc/no-such-file",
        ]
        for url in urls {
            let error = try await #require(throws: WorkerError.self) { try await cache.path(for: url, checksum: Self.checksum) }
            #expect(error.code == .refused, "\(url): \(error.message)")
            #expect(
                error.message == "image \(url) is refused: file URLs are read only under the worker's image_dirs (\(folder.file("images")))"
            )
        }
        let none = ImageCache(directory: folder.file("cache"))
        let error = try await #require(throws: WorkerError.self) { try await none.path(for: "file://" + secret) }
        #expect(error.message.hasSuffix("image_dirs (none are configured)"), "\(error.message)")
        #expect(try await none.path(for: "file:///dev/null") == "/dev/null", "the empty image is always there")
    }

    /// A device, a FIFO or a socket is never read: /dev/zero would be hashed
    /// for ever, a FIFO would wait for a writer.
    @Test func onlyRegularFilesAreImages() async throws {
        let folder = try TemporaryDirectory()
        #expect(mkfifo(folder.file("fifo"), 0o644) == 0)
        let cache = ImageCache(directory: folder.file("cache"), policy: URLPolicy(fileDirectories: [folder.path, "/dev"]))
        for url in ["file://" + folder.file("fifo"), "file:///dev/zero", "file:///dev/urandom"] {
            let error = try await #require(throws: WorkerError.self) { try await cache.path(for: url, checksum: Self.checksum) }
            #expect(error.code == .image)
            #expect(error.message == "image \(url) is not a regular file: a device, FIFO or socket is never read", "\(error.message)")
        }
    }

    @Test func anImageLargerThanTheLimitIsRefused() async throws {
        let folder = try TemporaryDirectory()
        let path = try folder.write("image.bin", String(repeating: "x", count: 2000))
        let cache = ImageCache(directory: folder.file("cache"), policy: URLPolicy(fileDirectories: [folder.path]), maximumBytes: 1000)
        let error = try await #require(throws: WorkerError.self) { try await cache.path(for: "file://" + path) }
        #expect(error.message == "image file://\(path) is larger than the worker's max_image_bytes (1000 bytes)")
    }

    /// Hashing a large image stops as soon as its task is cancelled (the
    /// server stops the task, or the worker shuts down).
    @Test(.timeLimit(.minutes(2))) func hashingStopsWhenTheTaskIsCancelled() async throws {
        let folder = try TemporaryDirectory()
        let path = folder.file("huge.img")
        // 64 GiB, sparse: minutes of hashing.
        #expect(FileManager.default.createFile(atPath: path, contents: nil))
        #expect(truncate(path, 64 << 30) == 0)
        let cache = ImageCache(
            directory: folder.file("cache"), policy: URLPolicy(fileDirectories: [folder.path]), maximumBytes: 1 << 40)
        let outcome = await withTaskGroup(of: (any Error)?.self) { group in
            group.addTask {
                do {
                    _ = try await cache.path(for: "file://" + path, checksum: Self.checksum)
                    return nil
                } catch {
                    return error
                }
            }
            try? await Task.sleep(for: .milliseconds(300))
            group.cancelAll()
            return await group.next() ?? nil
        }
        #expect(outcome is CancellationError, "\(String(describing: outcome))")
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
