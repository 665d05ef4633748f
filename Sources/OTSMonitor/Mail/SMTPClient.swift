import Foundation
import NIOCore
import NIOPosix
import NIOSSL

/// Why a mail was not sent.
struct SMTPError: Error, Sendable, Hashable, CustomStringConvertible {
    enum Code: String, Sendable, Hashable {
        /// The server could not be reached, or the connection broke.
        case unreachable
        /// The server refused the mail for now (4xx): worth trying again.
        case transient
        /// The server refused the mail for good (5xx).
        case refused
        /// The server spoke no SMTP, or TLS failed.
        case protocolError = "protocol"
    }

    var code: Code
    var message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    var description: String { message }
}

/// A small SMTP client (RFC 5321) on SwiftNIO: plain, STARTTLS (RFC 3207)
/// or TLS from the start, AUTH PLAIN or LOGIN (only over TLS), one mail a
/// connection. The env's package lists hold no SMTP library for Swift on
/// Linux, so OTS has its own; NIOSSL verifies the server's certificate.
struct SMTPClient: Sendable {
    enum Security: String, Sendable, Hashable, CaseIterable {
        /// No TLS: for a relay on a closed lab network.
        case none
        /// Plain, then STARTTLS before anything else is said (port 587 or 25).
        case starttls
        /// TLS from the start (port 465).
        case tls
    }

    var host: String
    var port: Int
    var security: Security
    var user: String?
    var password: String?
    /// PEM file of the certificate authorities the server's certificate
    /// chains to; nil trusts the system's.
    var caFile: String?
    /// The name this client greets with (EHLO).
    var heloName: String
    /// The longest a whole mail may take.
    var timeout: Duration = .seconds(60)

    /// Sends one message; the envelope is its `from` and `to`. Returns the
    /// recipients the server refused (5xx) while it took the others; when
    /// it takes none, that is a refusal.
    @discardableResult
    func send(_ message: MailMessage) async throws(SMTPError) -> [String] {
        do {
            return try await withThrowingTaskGroup(of: [String]?.self) { group in
                let channel = try await connect()
                group.addTask {
                    try await Task.sleep(for: timeout)
                    channel.channel.close(promise: nil)
                    throw SMTPError(.unreachable, "the mail server took longer than \(timeout) to take the mail")
                }
                group.addTask {
                    try await channel.executeThenClose { inbound, outbound in
                        var session = Session(inbound: inbound.makeAsyncIterator(), outbound: outbound)
                        return try await converse(&session, channel: channel.channel, message: message)
                    }
                }
                let refused = try await group.next() ?? nil
                group.cancelAll()
                return refused ?? []
            }
        } catch let error as SMTPError {
            throw error
        } catch let error as NIOSSLError {
            throw SMTPError(.protocolError, "TLS with \(host):\(port) failed: \(error)")
        } catch let error as BoringSSLError {
            throw SMTPError(.protocolError, "TLS with \(host):\(port) failed: \(error)")
        } catch {
            throw SMTPError(.unreachable, "the mail server \(host):\(port) cannot be reached: \(error)")
        }
    }

    private func connect() async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
        let context = security == .tls ? try tlsContext() : nil
        let host = self.host
        return try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(10))
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let context {
                        try channel.pipeline.syncOperations.addHandler(
                            try NIOSSLClientHandler(context: context, serverHostname: Self.sniName(host)))
                    }
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
    }

    private func tlsContext() throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let caFile { configuration.trustRoots = .file(caFile) }
        return try NIOSSLContext(configuration: configuration)
    }

    /// SNI takes names, not addresses.
    static func sniName(_ host: String) -> String? {
        (try? SocketAddress(ipAddress: host, port: 0)) == nil ? host : nil
    }

    private func converse(_ session: inout Session, channel: any Channel, message: MailMessage) async throws -> [String] {
        try await session.expect(220, "the greeting")
        var extensions = try await session.command("EHLO \(heloName)", expect: 250, "EHLO").lines.dropFirst().map { $0.uppercased() }
        var secure = security == .tls
        if security == .starttls {
            guard extensions.contains(where: { $0.hasPrefix("STARTTLS") }) else {
                throw SMTPError(
                    .protocolError,
                    "the mail server \(host):\(port) offers no STARTTLS (security = \"starttls\"); it offers \(extensions.joined(separator: ", "))"
                )
            }
            try await session.command("STARTTLS", expect: 220, "STARTTLS")
            let context = try tlsContext()
            let name = Self.sniName(host)
            try await channel.eventLoop.submit {
                try channel.pipeline.syncOperations.addHandler(
                    try NIOSSLClientHandler(context: context, serverHostname: name), position: .first)
            }.get()
            secure = true
            extensions = try await session.command("EHLO \(heloName)", expect: 250, "EHLO").lines.dropFirst().map { $0.uppercased() }
        }
        if let user, let password {
            guard secure else { throw SMTPError(.protocolError, "a password is sent only over TLS (security = \"starttls\" or \"tls\")") }
            let auth = extensions.first { $0.hasPrefix("AUTH") } ?? ""
            if auth.contains("PLAIN") || !auth.contains("LOGIN") {
                let credentials = Data(("\0" + user + "\0" + password).utf8).base64EncodedString()
                try await session.command("AUTH PLAIN " + credentials, expect: 235, "AUTH")
            } else {
                try await session.command("AUTH LOGIN", expect: 334, "AUTH")
                try await session.command(Data(user.utf8).base64EncodedString(), expect: 334, "AUTH")
                try await session.command(Data(password.utf8).base64EncodedString(), expect: 235, "AUTH")
            }
        }
        try await session.command("MAIL FROM:<\(Self.address(message.from))>", expect: 250, "MAIL FROM")
        var refused: [String] = []
        var lastRefusal: SMTPError?
        for recipient in message.to {
            do {
                try await session.command("RCPT TO:<\(recipient)>", expect: 250, "RCPT TO \(recipient)", accepting: [251])
            } catch let error as SMTPError where error.code == .refused {
                // One wrong address does not keep the mail from the others.
                refused.append(recipient)
                lastRefusal = error
            }
        }
        if refused.count == message.to.count, let lastRefusal { throw lastRefusal }
        try await session.command("DATA", expect: 354, "DATA")
        try await session.send(message.dataSection())
        try await session.expect(250, "the end of the message")
        // The mail is taken; how QUIT goes does not matter.
        try? await session.command("QUIT", expect: 221, "QUIT")
        return refused
    }

    /// The address in `Name <address>` (or the text as it is).
    static func address(_ text: String) -> String {
        guard let open = text.lastIndex(of: "<"), let close = text.lastIndex(of: ">"), open < close else { return text }
        return String(text[text.index(after: open)..<close])
    }

    /// One conversation: commands out, replies in.
    struct Session {
        var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
        let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
        var reader = SMTPReplyReader()
        var ready: [SMTPReply] = []

        mutating func send(_ text: String) async throws {
            try await outbound.write(ByteBuffer(string: text))
        }

        mutating func reply() async throws -> SMTPReply {
            while ready.isEmpty {
                guard let buffer = try await inbound.next() else {
                    throw SMTPError(.unreachable, "the mail server closed the connection")
                }
                do {
                    ready += try reader.read(buffer.readableBytesView)
                } catch {
                    throw SMTPError(.protocolError, "the mail server does not speak SMTP: \(error)")
                }
            }
            return ready.removeFirst()
        }

        @discardableResult
        mutating func expect(_ code: Int, _ what: String, accepting others: Set<Int> = []) async throws -> SMTPReply {
            let reply = try await reply()
            guard reply.code == code || others.contains(reply.code) else {
                throw SMTPError(reply.isTransient ? .transient : .refused, "the mail server answered \(what) with \(reply)")
            }
            return reply
        }

        @discardableResult
        mutating func command(_ line: String, expect code: Int, _ what: String, accepting others: Set<Int> = [])
            async throws -> SMTPReply
        {
            try await send(line + "\r\n")
            return try await expect(code, what, accepting: others)
        }
    }
}
