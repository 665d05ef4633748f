import OTSTestSupport
import Testing

/// A quiet logger for the store's own tests.
let testLogger = storeTestLogger

@Suite struct PostgresAvailability {
    @Test(
        .disabled(
            if: Engine.postgresURL == nil,
            "OTS_TEST_POSTGRES_URL is not set: the storage contract runs on SQLite only (./scripts/test.sh provides PostgreSQL)"))
    func postgresContractRuns() {
        #expect(Engine.available.contains(.postgres))
    }
}
