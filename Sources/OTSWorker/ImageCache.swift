import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import OTSClient

/// Images by URL, downloaded once into a cache folder: `file` URLs are used
/// where they are; `http` and `https` downloads are kept under a name made
/// from the URL, and reused while the server reports the same length and
/// validator (ETag or Last-Modified).
public struct ImageCache: Sendable {
    let directory: String
    let http: HTTPClient

    public init(directory: String, http: HTTPClient = OTSClient.http) {
        self.directory = directory
        self.http = http
    }

    /// The local path of the image at `url`.
    public func path(for url: String) async throws(WorkerError) -> String {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased() else {
            throw WorkerError(.image, "image '\(url)' is not a URL")
        }
        switch scheme {
        case "file":
            let path = components.path
            guard FileManager.default.isReadableFile(atPath: path) else {
                throw WorkerError(.image, "image \(url) does not exist or cannot be read")
            }
            return path
        case "http", "https":
            return try await download(url)
        default:
            throw WorkerError(.image, "image URL scheme '\(scheme)' is not file, http or https")
        }
    }

    private func download(_ url: String) async throws(WorkerError) -> String {
        let name =
            String(Self.fnv1a(url), radix: 16) + "-"
            + ((url as NSString).lastPathComponent.filter { $0.isLetter || $0.isNumber || "._-".contains($0) }).prefix(80)
        let target = directory + "/" + name
        let stamp = target + ".validator"
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            var head = HTTPClientRequest(url: url)
            head.method = .HEAD
            let headResponse = try await http.execute(head, timeout: .seconds(60))
            let validator = [
                headResponse.headers.first(name: "ETag"), headResponse.headers.first(name: "Last-Modified"),
                headResponse.headers.first(name: "Content-Length"),
            ].map { $0 ?? "" }.joined(separator: "|")
            if headResponse.status == .ok, FileManager.default.fileExists(atPath: target),
                (try? String(contentsOfFile: stamp, encoding: .utf8)) == validator, validator != "||"
            {
                return target
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
            for try await chunk in response.body {
                try handle.write(contentsOf: Data(chunk.readableBytesView))
            }
            try handle.close()
            _ = try? FileManager.default.removeItem(atPath: target)
            try FileManager.default.moveItem(atPath: partial, toPath: target)
            try validator.write(toFile: stamp, atomically: true, encoding: .utf8)
            return target
        } catch let error as WorkerError {
            throw error
        } catch {
            throw WorkerError(.image, "cannot download the image \(url): \(error)")
        }
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
