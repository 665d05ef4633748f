import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import OTSClient

/// Images by URL, downloaded once into a cache folder. `file` URLs are used
/// where they are. `http` and `https` downloads are kept under a name made
/// from the URL and reused when they still match: with a checksum
/// (`sha256:HEX`), when the cached file has it; without one, while the
/// server reports the same ETag, Last-Modified and length. A checksum is
/// always verified; a mismatch is the image's fault.
///
/// Only URLs the `policy` allows are read (redirects too: `http` must not
/// follow them itself), only regular files, and at most
/// `maximumBytes` of each; fetching and hashing stop as soon as the task
/// is cancelled.
public struct ImageCache: Sendable {
    let directory: String
    let http: HTTPClient
    public let policy: URLPolicy
    /// `max_image_bytes`: the largest image read or downloaded.
    let maximumBytes: Int64

    /// The default of `max_image_bytes`: 16 GiB.
    public static let defaultMaximumBytes: Int64 = 16 << 30

    public init(
        directory: String, http: HTTPClient = OTSClient.downloads, policy: URLPolicy = URLPolicy(),
        maximumBytes: Int64 = ImageCache.defaultMaximumBytes
    ) {
        self.directory = directory
        self.http = http
        self.policy = policy
        self.maximumBytes = maximumBytes
    }

    /// The local path of the image at `url`. Throws a `WorkerError`
    /// (`refused` when the policy does not allow the URL, `image`
    /// otherwise), or `CancellationError` when the task is cancelled.
    public func path(for url: String, checksum: String? = nil) async throws -> String {
        switch try policy.check(url, what: "image") {
        case .file(let path):
            if path == URLPolicy.emptyImage {
                if let checksum, Self.hex(of: checksum) != Self.emptySHA256 { throw Self.mismatch(url, checksum) }
                return path
            }
            let handle = try openImage(path, url: url)
            defer { try? handle.close() }
            if let checksum {
                guard try await sha256(of: handle, url: url) == Self.hex(of: checksum) else { throw Self.mismatch(url, checksum) }
            }
            return path
        case .remote:
            return try await download(url, checksum: checksum)
        }
    }

    /// Opens a file image: a regular file no larger than the limit.
    private func openImage(_ path: String, url: String) throws(WorkerError) -> FileHandle {
        let (handle, size) = try URLPolicy.openRegularFile(path, what: "image \(url)")
        guard size <= maximumBytes else {
            try? handle.close()
            throw tooLarge(url)
        }
        return handle
    }

    private func tooLarge(_ url: String) -> WorkerError {
        WorkerError(.image, "image \(url) is larger than the worker's max_image_bytes (\(maximumBytes) bytes)")
    }

    /// A checksum mismatch: what was expected, never what the content's is
    /// (that would tell a requestor the hash of any file the worker reads).
    static func mismatch(_ url: String, _ checksum: String) -> WorkerError {
        WorkerError(
            .image, "image \(url) does not match its checksum: the request expects sha256:\(hex(of: checksum)), which it does not have")
    }

    /// The SHA-256 of the empty content.
    static let emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// The cache file of a URL.
    func cachePath(for url: String) -> String {
        let name = (url as NSString).lastPathComponent.filter { $0.isLetter || $0.isNumber || "._-".contains($0) }.prefix(80)
        return directory + "/" + String(Self.fnv1a(url), radix: 16) + "-" + name
    }

    private func download(_ url: String, checksum: String?) async throws -> String {
        let target = cachePath(for: url)
        let stamp = target + ".validator"
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            if let checksum, FileManager.default.fileExists(atPath: target), let handle = FileHandle(forReadingAtPath: target) {
                defer { try? handle.close() }
                if (try? await sha256(of: handle, url: url)) == Self.hex(of: checksum) { return target }
                try Task.checkCancellation()
            }
            var validator: String?
            if checksum == nil {
                let response = try await policy.fetch(url, method: .HEAD, with: http, timeout: .seconds(60), what: "image")
                let fields = ["ETag", "Last-Modified", "Content-Length"].map { response.headers.first(name: $0) ?? "" }
                validator = fields.joined(separator: "|")
                if response.status == .ok, fields.contains(where: { !$0.isEmpty }), FileManager.default.fileExists(atPath: target),
                    (try? String(contentsOfFile: stamp, encoding: .utf8)) == validator
                {
                    return target
                }
            }
            let response = try await policy.fetch(url, with: http, timeout: .seconds(3600), what: "image")
            guard response.status == .ok else {
                throw WorkerError(.image, "image \(url): the server answered \(response.status.code) \(response.status.reasonPhrase)")
            }
            if let length = response.headers.first(name: "Content-Length").flatMap(Int64.init), length > maximumBytes {
                throw tooLarge(url)
            }
            let partial = target + ".partial"
            FileManager.default.createFile(atPath: partial, contents: nil)
            guard let handle = FileHandle(forWritingAtPath: partial) else {
                throw WorkerError(.image, "cannot write the image cache \(partial)")
            }
            var hash = SHA256()
            var total: Int64 = 0
            do {
                defer { try? handle.close() }
                for try await chunk in response.body {
                    try Task.checkCancellation()
                    total += Int64(chunk.readableBytes)
                    guard total <= maximumBytes else { throw tooLarge(url) }
                    let bytes = Data(chunk.readableBytesView)
                    hash.update(data: bytes)
                    try handle.write(contentsOf: bytes)
                }
            } catch {
                try? FileManager.default.removeItem(atPath: partial)
                throw error
            }
            if let checksum {
                let actual = hash.finalize().map { String(format: "%02x", $0) }.joined()
                guard actual == Self.hex(of: checksum) else {
                    try? FileManager.default.removeItem(atPath: partial)
                    throw Self.mismatch(url, checksum)
                }
            }
            _ = try? FileManager.default.removeItem(atPath: target)
            _ = try? FileManager.default.removeItem(atPath: stamp)
            try FileManager.default.moveItem(atPath: partial, toPath: target)
            if let validator { try validator.write(toFile: stamp, atomically: true, encoding: .utf8) }
            return target
        } catch let error as WorkerError {
            throw error
        } catch let error as CancellationError {
            throw error
        } catch {
            // The HTTP client says a cancelled request in its own words.
            if Task.isCancelled { throw CancellationError() }
            throw WorkerError(.image, "cannot download the image \(url): \(error)")
        }
    }

    static func hex(of checksum: String) -> String {
        String(checksum.lowercased().dropFirst("sha256:".count))
    }

    /// The SHA-256 of an open file, read in chunks: at most the limit, and
    /// only until the task is cancelled.
    func sha256(of handle: FileHandle, url: String) async throws -> String {
        var hash = SHA256()
        var total: Int64 = 0
        while true {
            try Task.checkCancellation()
            let chunk: Data?
            do {
                chunk = try handle.read(upToCount: 1 << 20)
            } catch {
                throw WorkerError(.image, "cannot read the image \(url): \(error)")
            }
            guard let chunk, !chunk.isEmpty else { break }
            total += Int64(chunk.count)
            guard total <= maximumBytes else { throw tooLarge(url) }
            hash.update(data: chunk)
            // A long hash leaves the threads to the heartbeats and claims.
            await Task.yield()
        }
        return hash.finalize().map { String(format: "%02x", $0) }.joined()
    }

    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x100_0000_01b3
        }
        return hash
    }
}
