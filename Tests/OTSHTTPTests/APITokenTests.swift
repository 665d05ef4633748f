import Foundation
import OTSCore
import OTSHTTP
import OTSStore
import Testing

/// The token form, its check, and what each scope grants.
@Suite struct APITokenTests {
    @Test func aMadeTokenParsesAndMatchesOnlyItsOwnHash() throws {
        let (text, record) = APIToken.make(name: "ci", scope: .submit)
        let parsed = try #require(APIToken.parse(text))
        #expect(parsed.id == record.id)
        #expect(parsed.secret.count == 64)
        #expect(!record.hash.contains(parsed.secret), "the record keeps a hash, not the secret")
        #expect(APIToken.matches(parsed.secret, hash: record.hash))
        var wrong = Array(parsed.secret)
        wrong[63] = wrong[63] == "0" ? "1" : "0"
        #expect(!APIToken.matches(String(wrong), hash: record.hash))
        let (other, _) = APIToken.make(name: "ci", scope: .submit)
        #expect(other != text, "every token is new")
    }

    @Test(arguments: [
        "", "ots_", "ots_abc_def", "ots_zzzzzzzzzzzz_" + String(repeating: "0", count: 64),
        "xyz_000000000000_" + String(repeating: "0", count: 64),
        "ots_000000000000_" + String(repeating: "0", count: 63), "ots_000000000000_" + String(repeating: "0", count: 64) + "_x",
    ])
    func malformedTokensDoNotParse(text: String) {
        #expect(APIToken.parse(text) == nil)
    }

    @Test func constantTimeComparisonStillCompares() {
        #expect(APIToken.constantTimeEqual("Bearer abc", "Bearer abc"))
        #expect(!APIToken.constantTimeEqual("Bearer abc", "Bearer abd"))
        #expect(!APIToken.constantTimeEqual("Bearer abc", "Bearer abcd"))
        #expect(!APIToken.constantTimeEqual("", "x"))
    }

    @Test func scopesNestAndWorkersStandApart() {
        let grants: [TokenScope: [TokenScope]] = [
            .read: [.read], .submit: [.read, .submit], .submitHost: [.read, .submit, .submitHost],
            .admin: [.read, .submit, .submitHost, .admin], .worker: [.worker],
        ]
        for scope in TokenScope.allCases {
            for needed in TokenScope.allCases {
                #expect(scope.grants(needed) == grants[scope]!.contains(needed), "\(scope) for \(needed)")
            }
        }
    }
}
