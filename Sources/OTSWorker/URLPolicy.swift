import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

#if canImport(Glibc)
    import Glibc
#endif

/// Which image and test definition URLs a worker reads: `http` and `https`
/// URLs that start with one of `allowedPrefixes`, and `file` URLs under one
/// of `fileDirectories` (after `..` and symbolic links are resolved).
/// `file:///dev/null`, the empty image, is always accepted.
///
/// A refused file URL gets the same answer whether the path exists or not,
/// so that a request cannot learn which files the worker host has.
public struct URLPolicy: Sendable, Hashable {
    /// `allowed_url_prefixes`: what an `http` or `https` URL must start with.
    public var allowedPrefixes: [String]
    /// `image_dirs`: the folders a `file` URL may point into; none by default.
    public var fileDirectories: [String]

    public static let defaultPrefixes = ["http://", "https://"]
    /// The empty image: always accepted, never read.
    public static let emptyImage = "/dev/null"

    public init(allowedPrefixes: [String] = URLPolicy.defaultPrefixes, fileDirectories: [String] = []) {
        self.allowedPrefixes = allowedPrefixes
        self.fileDirectories = fileDirectories
    }

    /// Where a URL the policy accepts leads.
    public enum Target: Sendable, Hashable {
        /// An `http` or `https` URL.
        case remote(String)
        /// A `file` URL: the path, resolved.
        case file(String)
    }

    /// Checks `url` (an image or a test definition, as `what` says);
    /// throws a `refused` error naming the setting when the policy does not
    /// allow it.
    public func check(_ url: String, what: String) throws(WorkerError) -> Target {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased() else {
            throw WorkerError(.refused, "\(what) '\(url)' is not a URL")
        }
        switch scheme {
        case "http", "https":
            // The scheme may be written in capitals; the rest is compared as written.
            let normalized = scheme + url.dropFirst(scheme.count)
            guard allowedPrefixes.contains(where: { normalized.hasPrefix($0) }) else {
                throw WorkerError(
                    .refused,
                    "\(what) \(url) is refused: it does not start with one of the worker's allowed_url_prefixes ("
                        + allowedPrefixes.joined(separator: ", ") + ")")
            }
            return .remote(url)
        case "file":
            if let host = components.host, !host.isEmpty, host != "localhost" {
                throw WorkerError(.refused, "\(what) \(url) is refused: a file URL names no host")
            }
            let path = components.path
            if path == Self.emptyImage { return .file(path) }
            let resolved = Self.resolve(path)
            let folders = fileDirectories.map(Self.resolve)
            guard path.hasPrefix("/"), folders.contains(where: { resolved == $0 || resolved.hasPrefix($0 == "/" ? "/" : $0 + "/") }) else {
                let allowed = fileDirectories.isEmpty ? "none are configured" : fileDirectories.joined(separator: ", ")
                throw WorkerError(.refused, "\(what) \(url) is refused: file URLs are read only under the worker's image_dirs (\(allowed))")
            }
            return .file(resolved)
        default:
            throw WorkerError(.refused, "\(what) URL scheme '\(scheme)' is not file, http or https")
        }
    }

    /// The path with symbolic links, `.` and `..` resolved; where it cannot
    /// be resolved on disk (it is missing, or a folder on the way cannot be
    /// searched), resolved as text.
    static func resolve(_ path: String) -> String {
        if let real = realpath(path, nil) {
            defer { free(real) }
            return String(cString: real)
        }
        var parts: [Substring] = []
        for part in path.split(separator: "/") {
            switch part {
            case ".": continue
            case "..": _ = parts.popLast()
            default: parts.append(part)
            }
        }
        return "/" + parts.joined(separator: "/")
    }

    /// Opens a file for reading, with its size: it must be a regular file.
    /// Opened without waiting (a FIFO would wait for a writer), then looked
    /// at, so that what is checked is what is read.
    static func openRegularFile(_ path: String, what: String) throws(WorkerError) -> (FileHandle, size: Int64) {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw WorkerError(.image, "\(what) does not exist or cannot be read") }
        var status = stat()
        guard fstat(fd, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw WorkerError(.image, "\(what) is not a regular file: a device, FIFO or socket is never read")
        }
        return (FileHandle(fileDescriptor: fd, closeOnDealloc: true), Int64(status.st_size))
    }

    /// A regular file's content, at most `limit` bytes.
    static func readRegularFile(_ path: String, limit: Int, what: String) throws(WorkerError) -> Data {
        if path == emptyImage { return Data() }
        let (handle, size) = try openRegularFile(path, what: what)
        defer { try? handle.close() }
        guard size <= limit else { throw WorkerError(.image, "\(what) is larger than \(limit) bytes") }
        do {
            let data = try handle.read(upToCount: limit + 1) ?? Data()
            guard data.count <= limit else { throw WorkerError(.image, "\(what) is larger than \(limit) bytes") }
            return data
        } catch let error as WorkerError {
            throw error
        } catch {
            throw WorkerError(.image, "\(what) cannot be read: \(error)")
        }
    }

    /// Most redirects followed.
    static let redirectLimit = 5

    /// Requests `url` with a client that follows no redirect, and follows
    /// each redirect itself if the policy allows where it leads.
    func fetch(
        _ url: String, method: HTTPMethod = .GET, with http: HTTPClient, timeout: TimeAmount, what: String
    ) async throws -> HTTPClientResponse {
        var current = url
        for _ in 0...Self.redirectLimit {
            var request = HTTPClientRequest(url: current)
            request.method = method
            let response = try await http.execute(request, timeout: timeout)
            guard [301, 302, 303, 307, 308].contains(response.status.code), let location = response.headers.first(name: "Location")
            else { return response }
            _ = try? await response.body.collect(upTo: 64 * 1024)
            guard let next = URL(string: location, relativeTo: URL(string: current))?.absoluteString else {
                throw WorkerError(.image, "\(what) \(url): a redirect to '\(location)', which is not a URL")
            }
            guard case .remote = try check(next, what: "\(what) \(url), redirected to") else {
                throw WorkerError(.refused, "\(what) \(url) is refused: it redirects to \(next), which is not http or https")
            }
            current = next
        }
        throw WorkerError(.image, "\(what) \(url): more than \(Self.redirectLimit) redirects")
    }
}
