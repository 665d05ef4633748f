import OTSCore
import Testing

@testable import OTSWorker

/// `OTS_SERVER` and `OTS_ENROLLMENT_SECRET` override the file, through the
/// environment loading every component shares.
@Suite struct WorkerEnvironmentTests {
    @Test func variablesOverrideTheFileAndEmptyOnesAreUnset() throws {
        var configuration = WorkerConfiguration()
        configuration.server = "http://from-file:8310"
        configuration.enrollmentSecret = "from-file"
        try configuration.load(environment: ["OTS_SERVER": "", "OTS_ENROLLMENT_SECRET": ""])
        #expect(configuration.server == "http://from-file:8310")
        #expect(configuration.enrollmentSecret == "from-file")
        try configuration.load(environment: ["OTS_SERVER": "https://ots.lab:8443", "OTS_ENROLLMENT_SECRET": "from-env"])
        #expect(configuration.server == "https://ots.lab:8443")
        #expect(configuration.enrollmentSecret == "from-env")
    }

    @Test func aServerThatIsNotAnHTTPURLIsRefusedNamingTheVariable() {
        var configuration = WorkerConfiguration()
        let error = #expect(throws: ConfigurationError.self) { try configuration.load(environment: ["OTS_SERVER": "ots.lab:8310"]) }
        #expect(error?.description == "OTS_SERVER: 'ots.lab:8310' is not an http(s) URL")
        #expect(configuration.server == WorkerConfiguration().server, "nothing changed")
    }
}
