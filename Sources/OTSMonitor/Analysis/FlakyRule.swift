import Foundation
import OTSCore

/// When a case is flaky on a device group (docs/monitor.md says it in
/// words): over its newest `window` PASS and FAIL runs there, once the runs
/// a bad device explains are set aside,
/// - its result flips often: flips ÷ (runs − 1) ≥ `threshold`, with at
///   least `minimumRunsForRate` runs, counting the runs image by image
///   (each image's runs together, images in the order they first ran, so
///   that a regression and its fix are one flip each however the testruns
///   of two images interleaved); or
/// - the same image gave it both PASS and FAIL (on two devices, or on a
///   rerun): a contradiction.
///
/// A device explains a run when the run is among the device's newest
/// failures in a row, and on that run's image the case passed on another
/// device and no other device both passed and failed it; a single such
/// failure only when no other device has a single one too.
struct FlakyRule: Sendable, Hashable {
    /// N: the newest runs judged.
    var window = 20
    /// The flip rate from which a case is flaky.
    var threshold = 0.3
    /// The fewest runs the flip rate judges.
    static let minimumRunsForRate = 5
    /// The most contradicting pairs given as evidence.
    static let evidenceLimit = 5

    /// A PASS and a FAIL with one image.
    struct Contradiction: Sendable, Hashable {
        var pass: CaseRun
        var fail: CaseRun

        /// The newer of the two.
        var newest: CaseRun { CaseRun.chronological(pass, fail) ? fail : pass }
    }

    struct Verdict: Sendable, Hashable {
        var flaky: Bool
        /// The runs judged (the device's set aside), newest first.
        var judged: [CaseRun]
        var flips: Int
        var rate: Double
        /// Per image, its newest PASS and FAIL; newest first.
        var contradictions: [Contradiction]
        /// Runs set aside as a device's.
        var explained: Set<Int64>
    }

    /// Judges a case's runs on one device group (in any order).
    func judge(_ runs: [CaseRun]) -> Verdict {
        let considered = Array(runs.filter { $0.passed || $0.failed }.sorted(by: CaseRun.chronological).suffix(window))
        let explained = Self.deviceExplained(considered)
        let judged = considered.filter { !explained.contains($0.id) }
        // Each image's runs together, images in the order they first ran.
        var order: [String: Int] = [:]
        for run in judged where order[run.imageKey] == nil { order[run.imageKey] = order.count }
        let sequence = judged.enumerated().sorted { a, b in
            (order[a.element.imageKey] ?? 0, a.offset) < (order[b.element.imageKey] ?? 0, b.offset)
        }.map(\.element)
        let flips = zip(sequence, sequence.dropFirst()).count { $0.result != $1.result }
        let rate = sequence.count > 1 ? Double(flips) / Double(sequence.count - 1) : 0
        var contradictions: [Contradiction] = []
        for (_, runs) in Dictionary(grouping: judged, by: \.imageKey) {
            guard let pass = runs.last(where: \.passed), let fail = runs.last(where: \.failed) else { continue }
            contradictions.append(Contradiction(pass: pass, fail: fail))
        }
        contradictions.sort { CaseRun.chronological($1.newest, $0.newest) }
        let flaky = (judged.count >= Self.minimumRunsForRate && rate >= threshold) || !contradictions.isEmpty
        return Verdict(
            flaky: flaky, judged: judged.reversed(), flips: flips, rate: rate,
            contradictions: Array(contradictions.prefix(Self.evidenceLimit)), explained: explained)
    }

    /// The runs a bad device explains (see the type's description). A
    /// device's single newest failure is its own only when no other device
    /// has one too: lone failures on several devices are a flaky case's.
    static func deviceExplained(_ runs: [CaseRun]) -> Set<Int64> {
        var candidates: [(streak: Int, runs: [CaseRun])] = []
        for (worker, own) in Dictionary(grouping: runs, by: \.worker) {
            let streak = trailingFailures(own)
            let explained = streak.filter { peersPass(runs, image: $0.imageKey, except: worker) }
            if !explained.isEmpty { candidates.append((streak.count, explained)) }
        }
        let lone = candidates.count { $0.streak == 1 }
        var explained: Set<Int64> = []
        for candidate in candidates where candidate.streak > 1 || lone == 1 {
            explained.formUnion(candidate.runs.map(\.id))
        }
        return explained
    }

    /// A device's newest failures in a row (its runs oldest first).
    static func trailingFailures(_ own: [CaseRun]) -> [CaseRun] {
        Array(own.sorted(by: CaseRun.chronological).reversed().prefix { $0.failed }.reversed())
    }

    /// Whether, with this image, another device passed the case and none
    /// both passed and failed it.
    static func peersPass(_ runs: [CaseRun], image: String, except worker: String) -> Bool {
        let peers = Dictionary(grouping: runs.filter { $0.worker != worker && $0.imageKey == image }, by: \.worker)
        let passing = peers.values.filter { $0.allSatisfy(\.passed) }
        let mixed = peers.values.filter { $0.contains(where: \.passed) && $0.contains(where: \.failed) }
        return !passing.isEmpty && mixed.isEmpty
    }
}
