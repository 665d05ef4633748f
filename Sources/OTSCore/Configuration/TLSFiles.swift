import Foundation

/// The certificate chain and private key (PEM files) a server or monitor
/// speaks HTTPS with: `tls_certificate` and `tls_key`.
public struct TLSFiles: Sendable, Hashable {
    public var certificate: String
    public var key: String

    public init(certificate: String, key: String) {
        self.certificate = certificate
        self.key = key
    }

    /// Reads `tls_certificate` and `tls_key`: both or neither.
    public static func load(_ reader: inout TOMLReader) throws(ConfigurationError) -> TLSFiles? {
        let certificate = try reader.string("tls_certificate")
        let key = try reader.string("tls_key")
        switch (certificate, key) {
        case (nil, nil): return nil
        case (let certificate?, let key?): return TLSFiles(certificate: certificate, key: key)
        case (nil, _): throw reader.error("tls_certificate", "required with tls_key")
        case (_, nil): throw reader.error("tls_key", "required with tls_certificate")
        }
    }

    /// Both files can be read.
    public func validate() throws(ConfigurationError) {
        for (key, path) in [("tls_certificate", certificate), ("tls_key", key)] where !FileManager.default.isReadableFile(atPath: path) {
            throw ConfigurationError(file: path, "\(key): cannot read the file")
        }
    }
}
