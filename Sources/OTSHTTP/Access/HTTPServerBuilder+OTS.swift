import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import NIOSSL
import OTSCore

extension HTTPServerBuilder {
    /// HTTP/1.1, over TLS when the files are given.
    public static func ots(tls: TLSFiles?) throws -> HTTPServerBuilder {
        guard let tls else { return .http1() }
        let chain = try NIOSSLCertificate.fromPEMFile(tls.certificate).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(file: tls.key, format: .pem)
        return try .tls(.http1(), tlsConfiguration: .makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key)))
    }
}
