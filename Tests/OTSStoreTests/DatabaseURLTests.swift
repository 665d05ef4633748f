import OTSTestSupport
import Testing

@testable import OTSStore

@Suite struct DatabaseURLTests {
    @Test(arguments: [
        ("sqlite:///var/lib/ots/ots.sqlite", DatabaseURL.sqlite(path: "/var/lib/ots/ots.sqlite")),
        ("sqlite://ots-data/ots.sqlite", .sqlite(path: "ots-data/ots.sqlite")),
        ("postgres://ots:secret@db.lab:5432/ots", .postgres(url: "postgres://ots:secret@db.lab:5432/ots")),
        ("postgresql://db.lab/ots", .postgres(url: "postgresql://db.lab/ots")),
    ])
    func parses(text: String, url: DatabaseURL) throws {
        #expect(try DatabaseURL(parsing: text) == url)
    }

    @Test(arguments: ["", "ots.sqlite", "sqlite://", "sqlite:///", "mysql://db/ots", "postgres:///ots"])
    func rejects(text: String) {
        #expect(throws: StoreError.self) { try DatabaseURL(parsing: text) }
    }

    @Test func passwordsNeverShow() throws {
        let url = try DatabaseURL(parsing: "postgres://ots:secret@db.lab:5432/ots")
        #expect(url.description == "postgres://ots:***@db.lab:5432/ots")
        do {
            _ = try DatabaseURL(parsing: "mysql://root:hunter2@db/ots")
        } catch {
            #expect(!error.message.contains("hunter2"))
        }
    }

    @Test func theDefaultIsAFileBesideTheWorkingFolder() {
        #expect(DatabaseURL.defaultURL == .sqlite(path: "ots-data/ots.sqlite"))
    }
}
