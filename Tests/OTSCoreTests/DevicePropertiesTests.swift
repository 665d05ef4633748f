import Testing

@testable import OTSCore

@Suite struct DevicePropertiesTests {
    @Test func requestedKeysJoinWhatIsGiven() {
        #expect(DeviceProperties(devicegroup: "phones").requestedRoutingKey == "phones")
        #expect(DeviceProperties(devicegroup: "phones", devicename: "n9").requestedRoutingKey == "phones.n9")
        #expect(DeviceProperties(devicegroup: "phones", devicename: "n9", deviceid: "0042").requestedRoutingKey == "phones.n9.0042")
    }

    @Test func workersConsumeTheMostSpecificKeyFirst() {
        let device = DeviceProperties(devicegroup: "phones", devicename: "n9", deviceid: "0042")
        #expect(device.consumedRoutingKeys == ["phones.n9.0042", "phones.n9", "phones"])
        #expect(DeviceProperties(devicegroup: "phones").consumedRoutingKeys == ["phones"])
        // Every key a request can ask for is one a matching device consumes.
        for request in [DeviceProperties(devicegroup: "phones"), DeviceProperties(devicegroup: "phones", devicename: "n9"), device] {
            #expect(device.consumedRoutingKeys.contains(request.requestedRoutingKey))
        }
    }

    @Test func problemsNameTheirField() {
        #expect(DeviceProperties(devicegroup: "phones").problems.isEmpty)
        #expect(DeviceProperties(devicegroup: "").problems == ["devicegroup is empty"])
        #expect(DeviceProperties(devicegroup: "a.b").problems == ["devicegroup 'a.b' may hold only letters, digits, '-' and '_'"])
        #expect(DeviceProperties(devicegroup: "g", deviceid: "7").problems == ["deviceid needs devicename too"])
    }
}

@Suite struct VerdictRulesTests {
    typealias Outcome = VerdictRules.TaskOutcome

    @Test func passWhenEveryPackageRanAndNothingSignificantFailed() {
        let decision = VerdictRules().decide(
            expectedPackages: ["a", "b"],
            tasks: [Outcome(packagesWithResults: ["a"]), Outcome(packagesWithResults: ["b"], failedInsignificantCases: 2)]
        )
        #expect(decision.verdict == .pass)
    }

    @Test(
        arguments: [
            (false, 0, 0, Verdict.pass), (false, 0, 3, .pass), (false, 1, 0, .fail), (true, 0, 1, .fail), (true, 0, 0, .pass),
            (true, 2, 2, .fail),
        ] as [(Bool, Int, Int, Verdict)])
    func theSignificantFailureRule(countInsignificant: Bool, significant: Int, insignificant: Int, expected: Verdict) {
        let rules = VerdictRules(countInsignificant: countInsignificant)
        #expect(rules.verdict(failedSignificantCases: significant, failedInsignificantCases: insignificant) == expected)
        #expect(rules.countsFailure(insignificant: false))
        #expect(rules.countsFailure(insignificant: true) == countInsignificant)
    }

    @Test func insignificantFailuresCountOnlyWhenAsked() {
        let tasks = [Outcome(packagesWithResults: ["a"], failedInsignificantCases: 1)]
        #expect(VerdictRules(countInsignificant: true).decide(expectedPackages: ["a"], tasks: tasks).verdict == .fail)
    }

    @Test func aSignificantFailureFails() {
        let decision = VerdictRules().decide(
            expectedPackages: ["a"], tasks: [Outcome(packagesWithResults: ["a"], failedSignificantCases: 1)])
        #expect(decision.verdict == .fail)
        #expect(decision.errorCategory == nil)
    }

    @Test func anErroredTaskIsAnErrorWithItsCategory() {
        let decision = VerdictRules().decide(
            expectedPackages: ["a", "b"],
            tasks: [
                Outcome(packagesWithResults: ["a"], failedSignificantCases: 3),
                Outcome(error: (.device, "flash failed after 3 tries"), packagesWithResults: []),
            ]
        )
        #expect(decision == VerdictRules.Decision(verdict: .error, errorCategory: .device, message: "flash failed after 3 tries"))
    }

    @Test func aPackageWithoutResultsIsAnError() {
        let decision = VerdictRules().decide(expectedPackages: ["a", "b", "c"], tasks: [Outcome(packagesWithResults: ["a"])])
        #expect(decision.verdict == .error)
        #expect(decision.errorCategory == .infrastructure)
        #expect(decision.message == "no results for packages b, c")
    }
}
