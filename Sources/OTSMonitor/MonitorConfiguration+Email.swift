import Foundation
import OTSCore

extension MonitorConfiguration {
    /// `[email]`: how the monitor mails each testrun's verdict to its
    /// `notify` list.
    public struct Email: Sendable, Hashable {
        /// The SMTP server.
        public var host = "localhost"
        public var port = 587
        public var security = "starttls"
        public var user: String?
        public var password: String?
        /// PEM file of the authorities the SMTP server's certificate chains
        /// to; none trusts the system's.
        public var caFile: String?
        /// The sender: `ots@lab.example` or `OTS <ots@lab.example>`.
        public var from = "ots@localhost"
        /// The dashboard's address as people reach it, for the link to the
        /// testrun's page.
        public var dashboardURL: String?
        /// The server's REST API, for the failing cases and attachments
        /// (`/api/v1/testruns/{id}/results`); without it the mail has the
        /// packages and verdicts from the events alone.
        public var serverURL: String?
        /// A token with the read scope for `server_url`.
        public var serverToken: String?
        /// The name the monitor greets the SMTP server with (EHLO).
        public var heloName = ProcessInfo.processInfo.hostName

        public init() {}

        var smtpSecurity: SMTPClient.Security { SMTPClient.Security(rawValue: security) ?? .starttls }

        var client: SMTPClient {
            SMTPClient(
                host: host, port: port, security: smtpSecurity, user: user, password: password, caFile: caFile, heloName: heloName)
        }

        mutating func load(_ reader: inout TOMLReader) throws(ConfigurationError) {
            host = try reader.string("host") ?? host
            port = try reader.int("port", in: 1...65535) ?? port
            security = try reader.string("security") ?? security
            guard SMTPClient.Security(rawValue: security) != nil else {
                throw reader.error("security", "must be \"none\", \"starttls\" or \"tls\", not \"\(security)\"")
            }
            user = try reader.string("user") ?? user
            password = try reader.string("password") ?? password
            if let file = try reader.string("password_file") {
                guard password == nil else { throw reader.error("password_file", "give password or password_file, not both") }
                password = try Self.secret(file, key: "password_file", reader: reader)
            }
            if (user == nil) != (password == nil) {
                throw reader.error(user == nil ? "user" : "password", "give user and password together")
            }
            if password != nil, smtpSecurity == .none {
                throw reader.error("security", "a password is sent only over TLS: \"starttls\" or \"tls\"")
            }
            caFile = try reader.string("ca_file") ?? caFile
            from = try reader.string("from") ?? from
            guard TestrunRequest.addressProblem(SMTPClient.address(from)) == nil, !from.contains("\n"), !from.contains("\r") else {
                throw reader.error("from", "'\(from.prefix(100))' is not an e-mail address")
            }
            heloName = try reader.string("helo_name") ?? heloName
            dashboardURL = try Self.url(&reader, "dashboard_url") ?? dashboardURL
            serverURL = try Self.url(&reader, "server_url") ?? serverURL
            serverToken = try reader.string("server_token") ?? serverToken
            if let file = try reader.string("server_token_file") {
                guard serverToken == nil else {
                    throw reader.error("server_token_file", "give server_token or server_token_file, not both")
                }
                serverToken = try Self.secret(file, key: "server_token_file", reader: reader)
            }
            try reader.rejectUnknownKeys()
        }

        static func url(_ reader: inout TOMLReader, _ key: String) throws(ConfigurationError) -> String? {
            guard let text = try reader.string(key) else { return nil }
            guard let url = URLComponents(string: text), ["http", "https"].contains(url.scheme ?? ""), url.host?.isEmpty == false else {
                throw reader.error(key, "must be an http or https URL, not '\(text.prefix(100))'")
            }
            return text.hasSuffix("/") ? String(text.dropLast()) : text
        }

        static func secret(_ path: String, key: String, reader: TOMLReader) throws(ConfigurationError) -> String {
            guard let data = FileManager.default.contents(atPath: path) else { throw reader.error(key, "cannot read \(path)") }
            let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard !text.isEmpty else { throw reader.error(key, "\(path) is empty") }
            return text
        }
    }
}
