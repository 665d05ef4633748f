import Foundation
import Logging
import NIOHTTP1
import OTSClient
import OTSCore
import OTSStore
import OTSTestSupport
import Testing

/// The switches a shared farm narrows a submitter with (docs/security.md):
/// host packages only for `submit-host` tokens, and callbacks that never
/// point back at the farm or leave the hosts allowed.
@Suite(.serialized, .timeLimit(.minutes(10))) struct SubmitterSwitchesTests {
    static func testrun(host: [String] = [], device: [String] = [], definitions: [String]? = nil, callback: String? = nil) throws
        -> String
    {
        var request = TestrunRequest(device: DeviceProperties(devicegroup: "e2e"), packages: .init(device: device, host: host))
        request.testDefinitions = definitions
        request.callbackURL = callback
        return String(decoding: try JSONCoding.encoder().encode(request), as: UTF8.self)
    }

    @Test(.timeLimit(.minutes(2)))
    func hostPackagesNeedTheSubmitHostScopeWhereTheServerSaysSo() async throws {
        try await TestFarm.with(engine: .sqlite, serverSettings: ["require_host_scope": "true"], workers: []) { farm in
            let folder = farm.workspace.path
            let submitter = try await TestFarm.createToken(database: farm.databaseURL, scope: "submit", name: "ci", in: folder)
            let host = try await TestFarm.createToken(database: farm.databaseURL, scope: "submit-host", name: "lab", in: folder)
            let api = farm.baseURL + "/api/v1/testruns"

            let refused = try await SecurityTests.call(.POST, api, token: submitter, body: try Self.testrun(host: ["shell-basics"]))
            #expect(refused.status == 403)
            #expect(refused.body.contains("packages.host: this farm runs host packages"), "\(refused.body)")
            #expect(refused.body.contains("submit-host scope (require_host_scope); this token has submit"), "\(refused.body)")
            let byURL = try await SecurityTests.call(
                .POST, api, token: submitter, body: try Self.testrun(definitions: ["https://defs.lab.example/tests.xml"]))
            #expect(byURL.status == 403)
            #expect(byURL.body.contains(#""field":"test_definitions""#), "\(byURL.body)")
            #expect(try await farm.client.testruns(limit: 10).testruns.isEmpty, "a refused request stores nothing")

            #expect(
                try await SecurityTests.call(.POST, api, token: submitter, body: try Self.testrun(device: ["shell-basics"])).status == 201)
            #expect(try await SecurityTests.call(.POST, api, token: host, body: try Self.testrun(host: ["shell-basics"])).status == 201)
            #expect(
                try await SecurityTests.call(.POST, api, token: farm.token, body: try Self.testrun(host: ["shell-basics"])).status == 201)
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func aCallbackToTheServerItselfIsRefused() async throws {
        try await TestFarm.with(engine: .sqlite, workers: []) { farm in
            let api = farm.baseURL + "/api/v1/testruns"
            for url in [farm.baseURL + "/api/v1/testruns", "http://localhost:\(farm.port)/x", "http://2130706433:\(farm.port)/"] {
                let refused = try await SecurityTests.call(
                    .POST, api, token: farm.token, body: try Self.testrun(device: ["a"], callback: url))
                #expect(refused.status == 400, "\(url)")
                #expect(refused.body.contains("points at this server"), "\(refused.body)")
            }
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func theMonitorDeliversCallbacksOnlyToAllowedHostsAndNeverToItself() async throws {
        try await TestFarm.with(engine: .sqlite, workers: []) { farm in
            let (_, monitor) = try await farm.startMonitor(settings: #"callback_allowed_hosts = ["127.0.0.1"]"# + "\n")
            // .invalid never resolves: were it tried, the letter would say so.
            let elsewhere = try await farm.client.submit(
                json: Array(try Self.testrun(device: ["a"], callback: "http://hooks.invalid:9/hook").utf8))
            let itself = try await farm.client.submit(json: Array(try Self.testrun(device: ["a"], callback: monitor + "/hook").utf8))
            var letters: [DeadLetter] = []
            try await eventually("both testruns' callbacks are set aside", within: .seconds(20), every: .milliseconds(250)) {
                letters = try await Self.deadLetters(farm)
                return Set(letters.compactMap { Self.testrunID(of: $0) }).isSuperset(of: [elsewhere.id, itself.id])
            }
            for letter in letters where Self.testrunID(of: letter) == elsewhere.id {
                #expect(letter.attempts == 0, "never tried")
                #expect(letter.error.contains("'hooks.invalid' is not in callback_allowed_hosts"), "\(letter.error)")
            }
            for letter in letters where Self.testrunID(of: letter) == itself.id {
                #expect(letter.attempts == 0, "never tried")
                #expect(letter.error.contains("points at this monitor"), "\(letter.error)")
            }
        }
    }

    static func testrunID(of letter: DeadLetter) -> String? {
        try? JSONCoding.decoder().decode(MonitorEvent.self, from: Data(letter.payload.utf8)).testrunID
    }

    static func deadLetters(_ farm: TestFarm) async throws -> [DeadLetter] {
        var logger = Logger(label: "ots.e2e")
        logger.logLevel = .warning
        let store = try await Store.open(try DatabaseURL(parsing: farm.databaseURL), logger: logger, migrate: false)
        let letters = try? await store.transaction { tx in try await tx.deadLetters(publisher: "callbacks") }
        await store.close()
        return letters ?? []
    }
}
