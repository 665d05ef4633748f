import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where `ots run`'s log messages go besides standard output: syslog (`-S`)
/// and a remote HTTP logger (`-L`, `--logid`), as testrunner-lite sends
/// them. Only the messages the verbosity lets through are sent, as in
/// testrunner-lite.
final class RunLogSinks: Sendable {
    private let syslog: Bool
    private let http: RemoteLogger?

    init(syslog: Bool, http: RemoteLogger?) {
        self.syslog = syslog
        self.http = http
        if syslog {
            // testrunner-lite's identity and facility, so existing syslog
            // rules keep matching.
            openlog(Self.identity, 0, LOG_LOCAL1)
        }
    }

    /// `openlog` keeps the pointer: it must live as long as the process.
    private nonisolated(unsafe) static let identity: UnsafeMutablePointer<CChar> = strdup("testrunner-lite")!

    /// Sends one message; `level` is testrunner-lite's name for it
    /// (`INFO`, `WARNING`, `ERROR`, `DEBUG`).
    func send(level: String, message: String) {
        if syslog {
            message.withCString { text in
                withVaList([text]) { vsyslog(Self.priority(level), "%s", $0) }
            }
        }
        http?.send(level: level, message: message)
    }

    /// Waits until every message has been sent (or the logger gave up), and
    /// closes syslog.
    func close() async {
        await http?.finish()
        if syslog { closelog() }
    }

    static func priority(_ level: String) -> Int32 {
        switch level {
        case "ERROR": LOG_ERR
        case "WARNING": LOG_WARNING
        case "DEBUG": LOG_DEBUG
        default: LOG_INFO
        }
    }
}

/// testrunner-lite's remote HTTP logger: every message is a POST of the
/// form fields Python's logging.HTTPHandler sends, in order, one at a time.
/// When a POST fails, one warning says so and no more are sent.
final class RemoteLogger: Sendable {
    let url: String
    let logID: String?
    private let created = Date()
    private let continuation: AsyncStream<(String, String, Date)>.Continuation
    private let worker: Task<Void, Never>

    /// `[http://]host[:port][/path/]`, as testrunner-lite takes it.
    static func url(from text: String) -> String {
        text.contains("://") ? text : "http://" + text
    }

    init(url text: String, logID: String?, onFailure: @escaping @Sendable (String) -> Void) {
        let url = Self.url(from: text)
        self.url = url
        self.logID = logID
        let (stream, continuation) = AsyncStream.makeStream(of: (String, String, Date).self)
        self.continuation = continuation
        let created = self.created
        worker = Task {
            let client = HTTPClient(eventLoopGroupProvider: .singleton)
            var failed = false
            for await (level, message, time) in stream where !failed {
                var request = HTTPClientRequest(url: url)
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
                request.body = .bytes(
                    ByteBuffer(string: Self.form(level: level, message: message, at: time, created: created, logID: logID)))
                do {
                    let response = try await client.execute(request, timeout: .seconds(10))
                    _ = try? await response.body.collect(upTo: 1 << 20)
                } catch {
                    failed = true
                    onFailure("http logging to \(url) failed: \(error); no more log messages are sent there")
                }
            }
            try? await client.shutdown()
        }
    }

    func send(level: String, message: String) {
        continuation.yield((level, message, Date()))
    }

    func finish() async {
        continuation.finish()
        await worker.value
    }

    /// Python's numeric level for testrunner-lite's level name.
    static func levelNumber(_ level: String) -> Int {
        switch level {
        case "CRITICAL", "EMERG", "ALERT": 50
        case "ERROR": 40
        case "WARNING": 30
        case "DEBUG": 10
        default: 20
        }
    }

    /// The request body: testrunner-lite's fields in its order and form
    /// (only the message is percent-encoded; `created` and
    /// `relativeCreated` are seconds and microseconds joined by a dot, the
    /// microseconds not zero-padded, and `msecs` is milliseconds and the
    /// rest in microseconds, as testrunner-lite prints them), then `logid`
    /// when given.
    static func form(level: String, message: String, at time: Date, created: Date, logID: String?) -> String {
        func parts(_ interval: TimeInterval) -> (seconds: Int, micros: Int) {
            let micros = Int((max(0, interval) * 1_000_000).rounded(.down))
            return (micros / 1_000_000, micros % 1_000_000)
        }
        let start = parts(created.timeIntervalSince1970)
        let since = parts(time.timeIntervalSince(created))
        var fields: [(String, String)] = [
            ("levelno", String(levelNumber(level))),
            ("name", "testrunner-lite"),
            ("levelname", level),
            ("module", "ots"),
            ("filename", "ots"),
            ("pathname", "ots"),
            ("funcName", "run"),
            ("lineno", "0"),
            ("msg", escape(message)),
            ("exc_info", "None"),
            ("exc_text", "None"),
            ("args", "()"),
            ("threadName", "None"),
            ("thread", "0.0"),
            ("created", "\(start.seconds).\(start.micros)"),
            ("process", String(getpid())),
            ("relativeCreated", "\(since.seconds).\(since.micros)"),
            ("msecs", "\(since.micros / 1000).\(since.micros % 1000)"),
        ]
        if let logID { fields.append(("logid", escape(logID))) }
        return fields.map { "\($0.0)=\($0.1)" }.joined(separator: "&") + "&"
    }

    /// Percent-encodes everything but letters, digits and `-._~`, as
    /// libcurl's curl_easy_escape does.
    static func escape(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(Character(Unicode.Scalar(byte)))
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }
}
