import Crypto
import Foundation
import OTSCore
import OTSStore

/// The form of OTS's API tokens: `ots_<id>_<secret>`, the id (12 hex digits)
/// to find the token, the secret (64 hex digits, 256 random bits) to prove
/// it. The store keeps only the SHA-256 of the secret; a slow hash is not
/// needed for a secret this long.
public enum APIToken {
    /// Makes a token; returns its text (shown once) and its record.
    public static func make(name: String, scope: TokenScope, workerID: String? = nil, at now: Date = Date()) -> (
        token: String, record: TokenRecord
    ) {
        let id = randomHex(bytes: 6)
        let secret = randomHex(bytes: 32)
        let record = TokenRecord(id: id, name: name, scope: scope, workerID: workerID, hash: hash(secret), createdAt: now)
        return ("ots_\(id)_\(secret)", record)
    }

    /// The id and secret of a token's text, or nil when it is not one.
    public static func parse(_ text: String) -> (id: String, secret: String)? {
        let parts = text.split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "ots", parts[1].count == 12, parts[2].count == 64,
            (parts[1] + parts[2]).allSatisfy(\.isHexDigit)
        else { return nil }
        return (String(parts[1]), String(parts[2]))
    }

    public static func hash(_ secret: String) -> String {
        SHA256.hash(data: Data(secret.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// Whether `secret` hashes to `expected`, in time that does not depend
    /// on where they differ.
    public static func matches(_ secret: String, hash expected: String) -> Bool {
        constantTimeEqual(hash(secret), expected)
    }

    /// Compares two strings in time that depends only on their lengths.
    public static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        var difference = UInt8(truncatingIfNeeded: x.count ^ y.count)
        for index in 0..<max(x.count, y.count) {
            difference |= (index < x.count ? x[index] : 0) ^ (index < y.count ? y[index] : 0)
        }
        return difference == 0
    }

    /// A secret of 256 random bits, hex: for an enrollment secret made on
    /// the spot (`ots up`, benchmarks).
    public static func randomSecret() -> String {
        randomHex(bytes: 32)
    }

    private static func randomHex(bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: .min ... .max, using: &generator)) }.joined()
    }
}

extension Store {
    /// Makes a token and keeps its record; returns its text (shown once)
    /// and the record.
    public func createToken(name: String, scope: TokenScope, at now: Date = Date()) async throws -> (
        token: String, record: TokenRecord
    ) {
        let made = APIToken.make(name: name, scope: scope, at: now)
        try await transaction { tx in try await tx.insertToken(made.record) }
        return made
    }
}
