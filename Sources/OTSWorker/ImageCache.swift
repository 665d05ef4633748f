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
public struct ImageCache: Sendable {
    let directory: String
    let http: HTTPClient

    public init(directory: String, http: HTTPClient = OTSClient.http) {
        self.directory = directory
        self.http = http
    }

    /// The local path of the image at `url`.
    public func path(for url: String, checksum: String? = nil) async throws(WorkerError) -> String {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased() else {
            throw WorkerError(.image, "image '\(url)' is not a URL")
        }
        switch scheme {
        case "file":
            let path = components.path
            guard FileManager.default.isReadableFile(atPath: path) else {
                throw WorkerError(.image, "image \(url) does not exist or cannot be read")
            }
            if let checksum {
                try verify(path, checksum: checksum, url: url)
            }
            return path
        case "http", "https":
            return try await download(url, checksum: checksum)
        default:
            throw WorkerError(.image, "image URL scheme '\(scheme)' is not file, http or https")
        }
    }

    /// The cache file of a URL.
    func cachePath(for url: String) -> String {
        let name = (url as NSString).lastPathComponent.filter { $0.isLetter || $0.isNumber || "._-".contains($0) }.prefix(80)
        return directory + "/" + String(Self.fnv1a(url), radix: 16) + "-" + name
    }

    private func download(_ url: String, checksum: String?) async throws(WorkerError) -> String {
        let target = cachePath(for: url)
        let stamp = target + ".validator"
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            if let checksum, FileManager.default.fileExists(atPath: target), (try? Self.sha256(of: target)) == Self.hex(of: checksum) {
                return target
            }
            var validator: String?
            if checksum == nil {
                var head = HTTPClientRequest(url: url)
                head.method = .HEAD
                let response = try await http.execute(head, timeout: .seconds(60))
                let fields = ["ETag", "Last-Modified", "Content-Length"].map { response.headers.first(name: $0) ?? "" }
                validator = fields.joined(separator: "|")
                if response.status == .ok, fields.contains(where: { !$0.isEmpty }), FileManager.default.fileExists(atPath: target),
                    (try? String(contentsOfFile: stamp, encoding: .utf8)) == validator
                {
                    return target
                }
            }
            let response = try await http.execute(HTTPClientRequest(url: url), timeout: .seconds(3600))
            guard response.status == .ok else {
                throw WorkerError(.image, "image \(url): the server answered \(response.status.code) \(response.status.reasonPhrase)")
            }
            let partial = target + ".partial"
            FileManager.default.createFile(atPath: partial, contents: nil)
            guard let handle = FileHandle(forWritingAtPath: partial) else {
                throw WorkerError(.image, "cannot write the image cache \(partial)")
            }
            var hash = SHA256()
            for try await chunk in response.body {
                let bytes = Data(chunk.readableBytesView)
                hash.update(data: bytes)
                try handle.write(contentsOf: bytes)
            }
            try handle.close()
            if let checksum {
                let actual = hash.finalize().map { String(format: "%02x", $0) }.joined()
                guard actual == Self.hex(of: checksum) else {
                    try? FileManager.default.removeItem(atPath: partial)
                    throw WorkerError(
                        .image, "image \(url) does not match its checksum: sha256 is \(actual), the request says \(Self.hex(of: checksum))")
                }
            }
            _ = try? FileManager.default.removeItem(atPath: target)
            _ = try? FileManager.default.removeItem(atPath: stamp)
            try FileManager.default.moveItem(atPath: partial, toPath: target)
            if let validator { try validator.write(toFile: stamp, atomically: true, encoding: .utf8) }
            return target
        } catch let error as WorkerError {
            throw error
        } catch {
            throw WorkerError(.image, "cannot download the image \(url): \(error)")
        }
    }

    private func verify(_ path: String, checksum: String, url: String) throws(WorkerError) {
        let actual: String
        do {
            actual = try Self.sha256(of: path)
        } catch {
            throw WorkerError(.image, "cannot read the image \(url): \(error)")
        }
        guard actual == Self.hex(of: checksum) else {
            throw WorkerError(
                .image, "image \(url) does not match its checksum: sha256 is \(actual), the request says \(Self.hex(of: checksum))")
        }
    }

    static func hex(of checksum: String) -> String {
        String(checksum.lowercased().dropFirst("sha256:".count))
    }

    /// The SHA-256 of a file, read in chunks.
    static func sha256(of path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw CocoaError(.fileReadNoSuchFile)
        }
        defer { try? handle.close() }
        var hash = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            hash.update(data: chunk)
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
