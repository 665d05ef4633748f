import Foundation
import OTSStore

/// How a worker instance fares across cases beside its peers (the other
/// instances of its device group): for the rule that blames a device that
/// fails many different cases and packages while its peers do not.
struct DeviceProfile: Sendable, Hashable {
    var worker: String
    /// Its newest PASS and FAIL results, and how many failed.
    var runs: Int
    var failures: Int
    /// The cases and packages among its failures.
    var failingCases: Int
    var failingPackages: Int
    /// Its peers' newest results, and how many failed.
    var peerRuns: Int
    var peerFailures: Int

    /// Results of the instance and of its peers read for a profile.
    static let ownLimit = 200
    static let peerLimit = 1000
    /// The fewest different failing cases, and packages, that blame a device.
    static let minimumCases = 3
    static let minimumPackages = 2
    /// The fewest peer results to compare with.
    static let minimumPeerRuns = 20

    init(worker: String, own: [CaseOutcome], peers: [CaseOutcome]) {
        self.worker = worker
        let mine = own.filter { $0.result == "PASS" || $0.result == "FAIL" }
        let theirs = peers.filter { $0.result == "PASS" || $0.result == "FAIL" }
        let failed = mine.filter { $0.result == "FAIL" }
        runs = mine.count
        failures = failed.count
        failingCases = Set(failed.map { [$0.package, $0.setName, $0.caseName] }).count
        failingPackages = Set(failed.map(\.package)).count
        peerRuns = theirs.count
        peerFailures = theirs.count { $0.result == "FAIL" }
    }

    var failureRate: Double { runs == 0 ? 0 : Double(failures) / Double(runs) }
    var peerFailureRate: Double { peerRuns == 0 ? 0 : Double(peerFailures) / Double(peerRuns) }

    /// Whether the instance fails many different cases and packages while
    /// its peers do not: at least `minimumCases` failing cases in
    /// `minimumPackages` packages, a failure rate of at least 20 % and at
    /// least three times its peers', over at least `minimumPeerRuns` of
    /// their results.
    var blamesDevice: Bool {
        failingCases >= Self.minimumCases && failingPackages >= Self.minimumPackages && peerRuns >= Self.minimumPeerRuns
            && failureRate >= 0.2 && failureRate >= 3 * peerFailureRate
    }

    var evidence: [String] {
        [
            "\(worker) failed \(failures) of its last \(runs) results (\(failingCases) cases in \(failingPackages) packages)",
            "the other instances of its device group failed \(peerFailures) of their last \(peerRuns)",
        ]
    }
}
