import Foundation
import OTSCore
import Testing

@Suite struct LivenessRuleTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func byDefaultThreeMissedHeartbeatsOfFiveSeconds() {
        let rule = LivenessRule()
        #expect(rule.offlineAfter == 15)
        #expect(rule.isAlive(lastHeartbeat: now.addingTimeInterval(-15), at: now), "exactly at the limit: alive")
        #expect(!rule.isAlive(lastHeartbeat: now.addingTimeInterval(-15.001), at: now))
        #expect(rule.silentBefore(now) == now.addingTimeInterval(-15))
    }

    @Test(arguments: [(1.0, 3, 3.0), (0.5, 2, 1.0), (10, 5, 50), (5, 0, 5)] as [(Double, Int, Double)])
    func offlineAfterTheMissedHeartbeats(heartbeat: Double, missed: Int, expected: TimeInterval) {
        let rule = LivenessRule(heartbeatSeconds: heartbeat, missedHeartbeats: missed)
        #expect(rule.offlineAfter == expected, "no floor; at least one heartbeat")
        #expect(rule.isAlive(lastHeartbeat: now.addingTimeInterval(-expected), at: now))
        #expect(!rule.isAlive(lastHeartbeat: now.addingTimeInterval(-expected - 0.01), at: now))
    }
}

@Suite struct ConfigurationEnvironmentTests {
    @Test func anEmptyVariableIsUnset() {
        let environment = ConfigurationEnvironment(["OTS_HOST": "", "OTS_PORT": "8400"])
        #expect(environment["OTS_HOST"] == nil)
        #expect(environment["OTS_NONE"] == nil)
        #expect(environment["OTS_PORT"] == "8400")
    }

    @Test func aPortIsCheckedAndTheErrorNamesTheVariable() throws {
        #expect(try ConfigurationEnvironment(["P": "0"]).port("P") == 0)
        #expect(try ConfigurationEnvironment([:]).port("P") == nil)
        for bad in ["eighty", "65536", "-1"] {
            let error = #expect(throws: ConfigurationError.self) { try ConfigurationEnvironment(["OTS_PORT": bad]).port("OTS_PORT") }
            #expect(error?.description == "OTS_PORT: '\(bad)' is not a port number")
        }
    }
}
