import Foundation
import OTSCore

/// The likely cause of a failure, from the runs of its case on its device
/// group (docs/monitor.md says the rules in words). In order:
/// 1. **device**: the failure is among its instance's newest failures in a
///    row (at least `minimumDeviceFailures`), and with its image the case
///    passed on another instance and no instance both passed and failed it;
/// 2. **image**: every run with its image failed, on at least
///    `minimumImageDevices` instances, and those instances passed it with an
///    earlier image (the last good one; the first bad one is the oldest of
///    the failing images after it; a bad instance's own failures, as
///    `FlakyRule` sets them aside, do not count against the earlier image);
/// 3. **test**: the case is flaky (never said of a flash or a boot);
/// 4. **device**: its instance fails many different cases and packages
///    while its peers do not (`DeviceProfile`);
/// 5. **unknown**, with how many more runs would tell.
struct CauseRule: Sendable, Hashable {
    var flaky = FlakyRule()
    static let minimumDeviceFailures = 2
    static let minimumImageDevices = 2

    /// Rules 1 to 3: the causes the case's own runs show; nil when they
    /// show none. `devicePhase`: the failure is a flash or a boot.
    func specific(_ failure: CaseRun, runs: [CaseRun], verdict: FlakyRule.Verdict, deviceGroup: String, devicePhase: Bool)
        -> LikelyCause?
    {
        let all = runs.filter { $0.passed || $0.failed }.sorted(by: CaseRun.chronological)
        if let device = device(failure, all) { return device }
        if let image = regression(failure, all) { return image }
        if !devicePhase && verdict.flaky { return test(verdict, deviceGroup: deviceGroup) }
        return nil
    }

    /// Rules 4 and 5, when the case's own runs show nothing.
    func general(_ failure: CaseRun, runs: [CaseRun], profile: DeviceProfile?, deviceGroup: String) -> LikelyCause {
        if let profile, profile.worker == failure.worker, profile.blamesDevice {
            return LikelyCause(
                kind: .device, summary: "\(failure.worker) fails many cases and packages that its peers pass",
                evidence: profile.evidence, worker: failure.worker)
        }
        return unknown(failure, runs.filter { $0.passed || $0.failed }.sorted(by: CaseRun.chronological), deviceGroup: deviceGroup)
    }

    /// Rule 1.
    func device(_ failure: CaseRun, _ all: [CaseRun]) -> LikelyCause? {
        let streak = FlakyRule.trailingFailures(all.filter { $0.worker == failure.worker })
        guard streak.count >= Self.minimumDeviceFailures, streak.contains(where: { $0.id == failure.id }),
            FlakyRule.peersPass(all, image: failure.imageKey, except: failure.worker)
        else { return nil }
        let peers = Dictionary(grouping: all.filter { $0.worker != failure.worker && $0.imageKey == failure.imageKey && $0.passed }) {
            $0.worker
        }
        let names = peers.keys.sorted()
        var evidence = [
            "\(failure.worker) failed it \(streak.count) times in a row, the last in testrun \(streak.last?.testrunID ?? failure.testrunID)"
        ]
        evidence += names.map { name in
            let runs = peers[name] ?? []
            return "\(name) passed it with \(failure.imageLabel) \(runs.count) \(runs.count == 1 ? "time" : "times")"
                + (runs.last.map { ", the last in testrun \($0.testrunID)" } ?? "")
        }
        return LikelyCause(
            kind: .device,
            summary: "\(failure.worker) fails this case while \(names.joined(separator: ", ")) pass it with the same image",
            evidence: evidence, worker: failure.worker)
    }

    /// Rule 2.
    func regression(_ failure: CaseRun, _ all: [CaseRun]) -> LikelyCause? {
        let onImage = all.filter { $0.imageKey == failure.imageKey }
        let devices = Set(onImage.map(\.worker))
        guard onImage.allSatisfy(\.failed), devices.count >= Self.minimumImageDevices else { return nil }
        var order: [String] = []
        var label: [String: String] = [:]
        for run in all where label[run.imageKey] == nil {
            order.append(run.imageKey)
            label[run.imageKey] = run.imageLabel
        }
        guard let index = order.firstIndex(of: failure.imageKey) else { return nil }
        // A bad instance's own failures with an earlier image say nothing of it.
        let explained = FlakyRule.deviceExplained(all)
        var firstBad = failure.imageKey
        for key in order[..<index].reversed() {
            let earlier = all.filter { $0.imageKey == key && devices.contains($0.worker) && !explained.contains($0.id) }
            if earlier.isEmpty { continue }
            if earlier.allSatisfy(\.failed) {
                firstBad = key
                continue
            }
            guard earlier.allSatisfy(\.passed) else { return nil }
            let good = label[key] ?? key
            let bad = label[firstBad] ?? firstBad
            let failing = all.filter { $0.imageKey == firstBad }
            return LikelyCause(
                kind: .image,
                summary: "a regression in \(bad): it fails on \(devices.sorted().joined(separator: ", ")), which passed it with \(good)",
                evidence: [
                    "with \(bad) it failed \(failing.count) of \(failing.count) runs on \(Set(failing.map(\.worker)).count) instances",
                    "with \(good) the same instances passed it \(earlier.count) of \(earlier.count) times",
                    "last good image \(good), first bad image \(bad)",
                ], lastGoodImage: good, firstBadImage: bad)
        }
        return nil
    }

    /// Rule 3.
    func test(_ verdict: FlakyRule.Verdict, deviceGroup: String) -> LikelyCause {
        LikelyCause(
            kind: .test, summary: "the case is flaky on device group \(deviceGroup)",
            evidence: Self.flakyEvidence(verdict))
    }

    /// What shows a case flaky, one line each.
    static func flakyEvidence(_ verdict: FlakyRule.Verdict) -> [String] {
        var lines = [
            "\(verdict.flips) flips in its last \(verdict.judged.count) runs (flip rate \(String(format: "%.2f", verdict.rate)))"
        ]
        lines += verdict.contradictions.map { pair in
            "with \(pair.pass.imageLabel): PASS on \(pair.pass.worker) in testrun \(pair.pass.testrunID), "
                + "FAIL on \(pair.fail.worker) in testrun \(pair.fail.testrunID)"
        }
        return lines
    }

    /// Rule 5: what is missing, and how many runs would supply it.
    func unknown(_ failure: CaseRun, _ all: [CaseRun], deviceGroup: String) -> LikelyCause {
        let sameImage = all.filter { $0.imageKey == failure.imageKey }
        let peerPassed = sameImage.contains { $0.worker != failure.worker && $0.passed }
        let ownFailures = sameImage.count { $0.worker == failure.worker && $0.failed }
        let deviceNeed = (peerPassed ? 0 : 1) + max(0, Self.minimumDeviceFailures - ownFailures)
        let failingDevices = Set(sameImage.filter(\.failed).map(\.worker))
        let earlier = all.contains { $0.imageKey != failure.imageKey && failingDevices.contains($0.worker) && $0.at < failure.at }
        let imageNeed = max(0, Self.minimumImageDevices - failingDevices.count) + (earlier ? 0 : 1)
        let needed = max(1, min(deviceNeed, imageNeed))
        let hint =
            peerPassed
            ? (ownFailures < Self.minimumDeviceFailures ? "another run on \(failure.worker)" : "runs on more instances with this image")
            : "a run on another instance of \(deviceGroup) with \(failure.imageLabel)"
        return LikelyCause(
            kind: .unknown,
            summary: "too little history (\(all.count) runs of this case on \(deviceGroup)); \(needed) more would tell: \(hint)",
            evidence: [
                "\(sameImage.count) runs with \(failure.imageLabel), \(failingDevices.count) instances failing it",
                peerPassed ? "another instance passed it with this image" : "no other instance passed it with this image",
            ], neededRuns: needed)
    }
}
