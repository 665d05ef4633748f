import Testing

@testable import OTSCore

/// OTS's verdict rules and the original OTS's, side by side: which case
/// results fail a testrun under each.
@Suite struct VerdictRulesModeTests {
    /// (mode, count_insignificant, cases as (result, insignificant), verdict)
    @Test(arguments: [
        (VerdictRules.Mode.ots, false, [("PASS", false), ("N/A", false)], Verdict.pass),
        (.original, false, [("PASS", false), ("N/A", false)], .fail),
        (.ots, false, [("FAIL", true)], .pass),
        (.ots, true, [("FAIL", true)], .fail),
        (.original, false, [("FAIL", true)], .fail),
        (.original, false, [("N/A", true)], .fail),
        (.original, false, [("PASS", true), ("PASS", false)], .pass),
        (.ots, false, [("FAIL", false)], .fail),
    ])
    func whatFailsATestrun(mode: VerdictRules.Mode, countInsignificant: Bool, cases: [(String, Bool)], verdict: Verdict) {
        let rules = VerdictRules(countInsignificant: countInsignificant, mode: mode)
        let failed = cases.filter { rules.isFailure(result: $0.0) }
        let decision = rules.decide(
            expectedPackages: ["p"],
            tasks: [
                VerdictRules.TaskOutcome(
                    packagesWithResults: ["p"], failedSignificantCases: failed.filter { !$0.1 }.count,
                    failedInsignificantCases: failed.filter(\.1).count)
            ])
        #expect(decision.verdict == verdict)
    }

    @Test func theOriginalsRulesCountInsignificantCases() {
        #expect(VerdictRules(mode: .original).countsFailure(insignificant: true))
        #expect(!VerdictRules(mode: .ots).countsFailure(insignificant: true))
        #expect(VerdictRules(mode: .original).decide(expectedPackages: ["p"], tasks: []).verdict == .error, "ERROR is the same")
    }
}
