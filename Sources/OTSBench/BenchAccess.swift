import OTSCore
import OTSHTTP
import OTSServer
import OTSStore

/// Benchmarks run the farm as it is deployed: tokens checked, workers
/// enrolled.
enum BenchAccess {
    /// Gives the server an enrollment secret and returns a new admin token
    /// for the benchmark's clients.
    static func prepare(_ store: Store, server: inout ServerConfiguration) async throws -> String {
        server.access = AccessPolicy(mode: .tokens)
        server.enrollmentSecret = APIToken.randomSecret()
        return try await store.createToken(name: "ots bench", scope: .admin).token
    }
}
