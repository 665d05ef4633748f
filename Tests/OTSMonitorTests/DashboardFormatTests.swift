import Foundation
import OTSCore
import Testing

@testable import OTSMonitor

/// How the dashboard writes times, durations, names and links.
@Suite struct DashboardFormatTests {
    @Test func timesAreUTCToTheSecond() {
        #expect(DashboardFormat.time(Date(timeIntervalSince1970: 1_800_000_000.9)) == "2027-01-15 08:00:00 UTC")
        #expect(DashboardFormat.time(nil) == "-")
    }

    // Durations are written by OTSCore's DurationText (DurationTextTests).

    @Test func agesAreCoarseAndNeverNegative() {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        #expect(DashboardFormat.ago(now.addingTimeInterval(-4.6), now: now) == "4 s ago")
        #expect(DashboardFormat.ago(now.addingTimeInterval(-200), now: now) == "3 min 20 s ago")
        #expect(DashboardFormat.ago(now.addingTimeInterval(30), now: now) == "0 s ago", "a clock ahead is not the future")
        #expect(DashboardFormat.ago(nil, now: now) == "-")
    }

    @Test func percentsHaveOneDecimal() {
        #expect(DashboardFormat.percent(0) == "0.0%")
        #expect(DashboardFormat.percent(0.4567) == "45.7%")
        #expect(DashboardFormat.percent(1) == "100.0%")
    }

    @Test func everyCategoryNamesWhoMustAct() {
        let owners = ErrorCategory.allCases.map { DashboardFormat.owner($0) }
        #expect(Set(owners).count == ErrorCategory.allCases.count, "each category its own owner")
        #expect(DashboardFormat.owner(.user) == "the requestor")
        #expect(DashboardFormat.owner(.infrastructure) == "the OTS administrators")
        #expect(DashboardFormat.owner(nil) == "-")
    }

    @Test func linksEscapeEverythingButUnreservedCharacters() {
        #expect(DashboardFormat.pathSegment("a/b c?d#e") == "a%2Fb%20c%3Fd%23e")
        #expect(DashboardFormat.pathSegment("Az09-._~") == "Az09-._~")
        #expect(DashboardPages.testrunLink("t/1") == "/testruns/t%2F1")
        #expect(DashboardPages.hostLink("rack 1") == "/workers/rack%201")
        #expect(DashboardPages.errorLink("ab+cd") == "/errors/ab%2Bcd")
    }

    @Test func textForSVGIsEscaped() {
        #expect(DashboardFormat.xml(#"<a href="x">Tom & Jerry's</a>"#) == "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;")
    }

    @Test(
        arguments: [
            ("running", nil, "running"), ("finished", "PASS", "pass"), ("finished", "FAIL", "fail"), ("finished", "ERROR", "error"),
            ("cancelled", nil, "cancelled"),
        ] as [(String, String?, String)])
    func aBadgeShowsTheVerdictElseTheState(state: String, verdict: String?, badge: String) {
        #expect(DashboardPages.badge(state: state, verdict: verdict) == badge)
    }

    @Test func outcomesThatFailedAreDrawnSo() {
        for outcome in ["fail", "FAILED", "error", "timeout", "timed_out", "cancelled"] {
            #expect(DashboardPages.failed(outcome), "\(outcome)")
        }
        for outcome in [nil, "ok", "pass", "retried"] as [String?] {
            #expect(!DashboardPages.failed(outcome), "\(outcome ?? "nil")")
        }
    }
}
