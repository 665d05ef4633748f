import Foundation
import OTSCore
import OTSStore
import Testing

@testable import OTSMonitor

/// A case's runs written as a table, oldest first: `"WORKER IMAGE RESULT"`
/// per run (`P`, `F` or `N`), each a second after the one before, in a
/// testrun of its own (`t1`, `t2`, ...).
func history(_ lines: [String]) -> [CaseRun] {
    lines.enumerated().map { index, line in
        let words = line.split(separator: " ").map(String.init)
        let result = ["P": "PASS", "F": "FAIL", "N": "N/A"][words[2]] ?? words[2]
        return CaseRun(
            id: Int64(index + 1), testrunID: "t\(index + 1)", worker: words[0], image: words[1] == "-" ? nil : words[1], result: result,
            at: Date(timeIntervalSince1970: 1_800_000_000 + Double(index)))
    }
}

/// `lines` repeated `times` times, in order.
func repeated(_ lines: [String], _ times: Int) -> [String] {
    Array(repeatElement(lines, count: times).joined())
}

@Suite struct FlakyRuleTests {
    struct Row: Sendable, CustomTestStringConvertible {
        var name: String
        var runs: [String]
        var flaky: Bool
        /// Runs set aside as a bad device's, by worker.
        var explainedWorkers: Set<String> = []
        var testDescription: String { name }
    }

    static let rows: [Row] = [
        Row(name: "always passes", runs: repeated(["a v1 P", "b v1 P"], 5), flaky: false),
        Row(name: "always fails on every device", runs: repeated(["a v1 F", "b v1 F"], 5), flaky: false),
        Row(name: "PASS and FAIL alternate on one device with one image", runs: ["a v1 P", "a v1 F", "a v1 P", "a v1 F"], flaky: true),
        Row(name: "one flake with one image is a contradiction", runs: repeated(["a v1 P"], 8) + ["b v1 F", "b v1 P"], flaky: true),
        Row(
            name: "a bad device that fails it while its peers pass is no flakiness",
            runs: repeated(["a v1 P", "bad v1 F", "b v1 P"], 4) + repeated(["a v2 P", "bad v2 F", "b v2 P"], 2), flaky: false,
            explainedWorkers: ["bad"]),
        Row(
            name: "two bad devices beside good ones", runs: repeated(["good v1 P", "bad1 v1 F", "bad2 v1 F"], 4), flaky: false,
            explainedWorkers: ["bad1", "bad2"]),
        Row(
            name: "a device gone bad: its newest failures are its own",
            runs: ["a v1 P", "bad v1 P", "a v2 P", "bad v2 F", "a v2 P", "bad v2 F"], flaky: false, explainedWorkers: ["bad"]),
        Row(name: "a regression is one flip", runs: repeated(["a v1 P", "b v1 P"], 3) + repeated(["a v2 F", "b v2 F"], 3), flaky: false),
        Row(
            name: "a regression whose testruns interleave with the old image's is one flip too",
            runs: repeated(["a v1 P", "b v2 F"], 4), flaky: false),
        Row(
            name: "a regression and its fix", runs: repeated(["a v1 P"], 4) + repeated(["a v2 F"], 4) + repeated(["a v3 P"], 4),
            flaky: false),
        Row(name: "too few runs for the flip rate", runs: ["a v1 P", "a v2 F", "a v3 P", "a v4 F"], flaky: false),
        Row(
            name: "images that each ran once and flip every time",
            runs: ["a i1 P", "a i2 F", "a i3 P", "a i4 F", "a i5 P", "a i6 F"], flaky: true),
        Row(
            name: "a flip rate under the threshold",
            runs: ["a i1 P", "a i2 P", "a i3 F", "a i4 F", "a i5 P", "a i6 P", "a i7 P", "a i8 P", "a i9 P", "a i10 P", "a i11 P"],
            flaky: false),
        Row(name: "a flip rate over the threshold", runs: ["a i1 P", "a i2 P", "a i3 F", "a i4 F", "a i5 P", "a i6 P"], flaky: true),
        Row(name: "N/A runs do not count", runs: ["a v1 P", "a v1 N", "a v1 P", "a v1 N", "a v1 P"], flaky: false),
        Row(
            name: "old flakiness beyond the window is forgotten",
            runs: ["a v1 P", "a v1 F", "a v1 P", "a v1 F"] + repeated(["a v1 P"], 20), flaky: false),
        Row(name: "runs without an image count as one image", runs: ["a - P", "a - F", "a - P"], flaky: true),
        Row(
            name: "a single failure of one instance beside passes is set aside as the device's", runs: ["a - P", "b - F", "a - P"],
            flaky: false, explainedWorkers: ["b"]),
        Row(
            name: "a one-time failure on another device, not repeated, is not yet the device's", runs: ["a v1 P", "b v1 F", "b v1 P"],
            flaky: true),
        Row(
            name: "single failures on several devices are a flaky case's, not as many bad devices",
            runs: ["a v1 P", "b v1 F", "c v1 P", "d v1 F", "a v1 P", "e v1 P"], flaky: true),
        Row(
            name: "a bad device's failures, and one other lone failure, are set aside",
            runs: ["a v1 P", "bad v1 F", "b v1 P", "bad v1 F", "c v1 F", "a v1 P"], flaky: false, explainedWorkers: ["bad", "c"]),
        Row(
            name: "a bad device's failures are set aside beside lone failures on two others",
            runs: ["a v1 P", "bad v1 F", "b v1 P", "bad v1 F", "c v1 F", "a v1 P", "d v1 F", "b v1 P"], flaky: true,
            explainedWorkers: ["bad"]),
    ]

    @Test(arguments: rows)
    func judges(_ row: Row) {
        let runs = history(row.runs)
        let verdict = FlakyRule().judge(runs)
        #expect(verdict.flaky == row.flaky, "\(verdict)")
        let explained = Set(runs.filter { verdict.explained.contains($0.id) }.map(\.worker))
        #expect(explained == row.explainedWorkers)
    }

    @Test func theEvidenceNamesTheRunsThatContradict() {
        let runs = history(["a v1 P", "a v2 P", "b v2 F", "a v2 P", "b v2 P"])
        let verdict = FlakyRule().judge(runs)
        #expect(verdict.flaky)
        #expect(verdict.contradictions.count == 1)
        let pair = try! #require(verdict.contradictions.first)
        #expect(pair.pass.testrunID == "t5" && pair.pass.worker == "b", "the newest PASS with that image")
        #expect(pair.fail.testrunID == "t3" && pair.fail.worker == "b")
        #expect(pair.pass.image == "v2")
        #expect(verdict.judged.map(\.testrunID) == ["t5", "t4", "t3", "t2", "t1"], "newest first")
        #expect(verdict.flips == 2, "v1's run, then v2's: P | P F P P")
        #expect(abs(verdict.rate - 0.5) < 1e-9)
    }

    @Test func theWindowAndThresholdAreTheConfiguration() {
        let runs = history(["a i1 P", "a i2 F", "a i3 P", "a i4 P", "a i5 P", "a i6 P", "a i7 P"])
        #expect(FlakyRule().judge(runs).flaky, "2 flips in 7 runs: 2 of 6, over the default 0.3")
        #expect(abs(FlakyRule().judge(runs).rate - 2.0 / 6) < 1e-9)
        #expect(!FlakyRule(window: 20, threshold: 0.5).judge(runs).flaky)
        #expect(!FlakyRule(window: 5, threshold: 0.3).judge(runs).flaky, "the last 5: i3 to i7, all PASS")
    }
}

@Suite struct CauseRuleTests {
    struct Row: Sendable, CustomTestStringConvertible {
        var name: String
        var runs: [String]
        var kind: LikelyCause.Kind
        var worker: String? = nil
        var lastGood: String? = nil
        var firstBad: String? = nil
        var needed: Int? = nil
        var devicePhase = false
        var testDescription: String { name }
    }

    /// The last run is the failure judged.
    static let rows: [Row] = [
        Row(
            name: "an instance fails it where its peers pass with the same image",
            runs: ["good1 v1 P", "bad v1 F", "good2 v1 P", "bad v1 F"], kind: .device, worker: "bad"),
        Row(
            name: "one failure on an instance is not yet enough for the device", runs: ["good1 v1 P", "good2 v1 P", "bad v1 F"],
            kind: .unknown, needed: 1),
        Row(
            name: "no other instance ran this image", runs: ["a v1 P", "a v1 P", "a v2 F"], kind: .unknown, needed: 1),
        Row(
            name: "it fails on several instances since an image and passed on them before",
            runs: ["a v1 P", "b v1 P", "a v2 F", "b v2 F"], kind: .image, lastGood: "v1", firstBad: "v2"),
        Row(
            name: "the first bad image is the oldest of the failing ones",
            runs: ["a v1 P", "b v1 P", "a v2 F", "b v2 F", "a v3 F", "b v3 F"], kind: .image, lastGood: "v1", firstBad: "v2"),
        Row(
            name: "a bad instance's failure with a regressing image is the image's",
            runs: ["a v1 P", "bad v1 F", "b v1 P", "bad v1 F", "a v2 F", "b v2 F", "bad v2 F"], kind: .image, lastGood: "v1",
            firstBad: "v2"),
        Row(
            name: "an image that both passed and failed before is no regression",
            runs: ["a v1 P", "b v1 F", "a v1 F", "b v1 P", "a v2 F", "b v2 F"], kind: .test),
        Row(name: "a flaky case", runs: ["a v1 P", "a v1 F", "b v1 P", "b v1 F", "a v1 P", "a v1 F"], kind: .test),
        Row(
            name: "a flash that fails now and then is never a flaky test", runs: ["a v1 P", "a v1 F", "a v1 P", "a v1 F"], kind: .unknown,
            needed: 1, devicePhase: true),
        Row(
            name: "a flash that fails on one instance only",
            runs: ["a v1 P", "bad v1 F", "b v1 P", "bad v1 F"], kind: .device, worker: "bad", devicePhase: true),
        Row(
            name: "a corrupt image fails every flash",
            runs: ["a v1 P", "b v1 P", "a v2 F", "b v2 F"], kind: .image, lastGood: "v1", firstBad: "v2", devicePhase: true),
    ]

    @Test(arguments: rows)
    func judges(_ row: Row) throws {
        let runs = history(row.runs)
        let failure = try #require(runs.last)
        let rule = CauseRule()
        let verdict = rule.flaky.judge(runs)
        let cause =
            rule.specific(failure, runs: runs, verdict: verdict, deviceGroup: "lab", devicePhase: row.devicePhase)
            ?? rule.general(failure, runs: runs, profile: nil, deviceGroup: "lab")
        #expect(cause.kind == row.kind, "\(cause)")
        #expect(cause.worker == row.worker)
        #expect(cause.lastGoodImage == row.lastGood)
        #expect(cause.firstBadImage == row.firstBad)
        #expect(cause.neededRuns == row.needed, "\(cause.summary)")
        #expect(!cause.evidence.isEmpty)
    }

    @Test func theDeviceEvidenceNamesThePeersAndTheRuns() throws {
        let runs = history(["good1 v1 P", "bad v1 F", "good2 v1 P", "bad v1 F", "good1 v1 P"])
        let failure = runs[3]
        let rule = CauseRule()
        let cause = try #require(
            rule.specific(failure, runs: runs, verdict: rule.flaky.judge(runs), deviceGroup: "lab", devicePhase: false))
        #expect(cause.summary == "bad fails this case while good1, good2 pass it with the same image")
        #expect(
            cause.evidence == [
                "bad failed it 2 times in a row, the last in testrun t4",
                "good1 passed it with v1 2 times, the last in testrun t5",
                "good2 passed it with v1 1 time, the last in testrun t3",
            ])
    }

    @Test func anOldFailureOfAnInstanceThatPassedSinceIsNotTheDevices() {
        let runs = history(["good v1 P", "b v1 F", "good v1 P", "b v1 F", "b v1 P", "b v1 P"])
        let rule = CauseRule()
        let cause = rule.specific(runs[3], runs: runs, verdict: rule.flaky.judge(runs), deviceGroup: "lab", devicePhase: false)
        #expect(cause?.kind == .test, "b passed and failed with v1: flaky")
    }

    @Test(arguments: [
        (own: ["p1/s/a F", "p1/s/b F", "p2/s/c F", "p2/s/d P", "p3/s/e P"], peersFail: 1, blames: true),
        (own: ["p1/s/a F", "p1/s/b F", "p1/s/c F", "p1/s/d P"], peersFail: 0, blames: false),  // one package
        (own: ["p1/s/a F", "p2/s/b F", "p1/s/a F", "p1/s/a P"], peersFail: 0, blames: false),  // two cases
        (own: ["p1/s/a F", "p1/s/b F", "p2/s/c F", "p2/s/d P", "p3/s/e P"], peersFail: 20, blames: false),  // peers fail as much
    ])
    func aDeviceThatFailsManyCasesItsPeersPass(own: [String], peersFail: Int, blames: Bool) {
        func outcomes(_ lines: [String], worker: String) -> [CaseOutcome] {
            lines.map { line in
                let parts = line.split(separator: " ")
                let names = parts[0].split(separator: "/").map(String.init)
                return CaseOutcome(
                    package: names[0], setName: names[1], caseName: names[2], worker: worker, result: parts[1] == "F" ? "FAIL" : "PASS")
            }
        }
        let peers = outcomes(
            Array(repeating: "p1/s/a F", count: peersFail) + Array(repeating: "p1/s/a P", count: 40 - peersFail), worker: "peer")
        let profile = DeviceProfile(worker: "bad", own: outcomes(own, worker: "bad"), peers: peers)
        #expect(profile.blamesDevice == blames, "\(profile)")
        let runs = history(["bad v1 F"])
        let cause = CauseRule().general(runs[0], runs: runs, profile: profile, deviceGroup: "lab")
        #expect(cause.kind == (blames ? .device : .unknown))
    }
}

@Suite struct CaseRunTests {
    @Test func runsReadBackAsWrittenWhateverTheirFieldsHold() {
        let runs = [
            CaseRun(
                id: 7, testrunID: "t", worker: "h/i", image: "file:///a\tb\nc\r\nd", imageChecksum: nil, result: "FAIL",
                at: Date(timeIntervalSince1970: 1_800_000_000.5), cause: "device:42"),
            CaseRun(
                id: 8, testrunID: "u", worker: "h/j", image: nil, imageChecksum: "ab12", result: "PASS",
                at: Date(timeIntervalSince1970: 1_800_000_001)),
        ]
        let decoded = CaseRun.decode(CaseRun.encode(runs))
        #expect(decoded.count == 2)
        #expect(decoded[0].image == "file:///a b c  d")
        #expect(decoded[0].cause == "device:42")
        #expect(decoded[0].at == runs[0].at)
        #expect(decoded[1] == runs[1])
        #expect(decoded[1].imageKey == "ab12", "the checksum names the image when given")
        #expect(CaseRun.decode("") == [])
        #expect(CaseRun.decode("garbage\n1\t2") == [], "lines that are not runs are left out")
    }
}
