import Foundation
import OTSCore
import OTSTestSupport
import Testing

@testable import OTSStore

/// The monitor's case results, case states, attempts and packages' files:
/// the same on every engine.
@Suite struct CaseResultsContractTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    func row(
        _ testrun: String, _ package: String, _ set: String, _ name: String, _ result: String, ordinal: Int, upload: String = "u1",
        task: String = "k1", worker: String = "rack/a", group: String = "phones", at seconds: Double = 0, image: String? = "img-1"
    ) -> CaseResultRow {
        CaseResultRow(
            testrunID: testrun, taskID: task, attempt: 1, uploadID: upload, package: package, setName: set, caseName: name,
            ordinal: ordinal, result: result, durationMs: 1500, failureInfo: result == "FAIL" ? "expected 0, got 1" : nil, worker: worker,
            deviceGroup: group, deviceName: "n9", image: image, imageChecksum: "abc", swProduct: "prod",
            recordedAt: start.addingTimeInterval(seconds), steps: #"[{"command":"true","result":"\#(result)","expected_result":0}]"#)
    }

    @Test(arguments: Engine.available)
    func aTestrunsCasesAreReadInOrderAndFiltered(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            let rows = [
                row("r1", "pkg-b", "s", "zeta", "PASS", ordinal: 0),
                row("r1", "pkg-a", "s", "Boot_50%", "FAIL", ordinal: 0, upload: "u2"),
                row("r1", "pkg-a", "s", "boot", "PASS", ordinal: 1, upload: "u2"),
                row("r1", "pkg-a", "t", "bootX50y", "N/A", ordinal: 2, upload: "u2"),
                row("r2", "pkg-a", "s", "boot", "FAIL", ordinal: 0, upload: "u3", task: "k2", at: 10),
            ]
            let ids = try await store.transaction { tx in try await tx.insertCaseResults(rows) }
            #expect(ids.count == 5)
            #expect(Set(ids).count == 5, "every row its own id: \(ids)")
            let all = try await store.read { tx in try await tx.caseResults(testrunID: "r1") }
            #expect(all.map(\.caseName) == ["Boot_50%", "boot", "bootX50y", "zeta"], "package, then results order")
            #expect(all.allSatisfy { $0.steps == "[]" }, "steps are read only when asked for")
            let first = try #require(all.first)
            #expect(first.id == ids[1])
            #expect(first.failureInfo == "expected 0, got 1")
            #expect(first.recordedAt == start)
            #expect(first.deviceName == "n9" && first.image == "img-1" && first.imageChecksum == "abc" && first.swProduct == "prod")
            #expect(first.durationMs == 1500)
            let failed = try await store.read { tx in
                try await tx.caseResults(testrunID: "r1", CaseResultFilter(result: "FAIL", steps: true))
            }
            #expect(failed.map(\.caseName) == ["Boot_50%"])
            #expect(failed.first?.steps.contains(#""result":"FAIL""#) == true)
            let package = try await store.read { tx in try await tx.caseResults(testrunID: "r1", CaseResultFilter(package: "pkg-b")) }
            #expect(package.map(\.caseName) == ["zeta"])
            // Part of the name, any case; % and _ are the text, not wildcards.
            let named = try await store.read { tx in try await tx.caseResults(testrunID: "r1", CaseResultFilter(name: "_50%")) }
            #expect(named.map(\.caseName) == ["Boot_50%"])
            let boots = try await store.read { tx in try await tx.caseResults(testrunID: "r1", CaseResultFilter(name: "BOOT")) }
            #expect(boots.count == 3)
            let one = try await store.read { tx in
                try await tx.caseResult(testrunID: "r1", package: "pkg-a", setName: "s", caseName: "boot")
            }
            #expect(one?.result == "PASS")
            #expect(one?.steps.contains("\"command\":\"true\"") == true)
            let none = try await store.read { tx in
                try await tx.caseResult(testrunID: "r1", package: "pkg-a", setName: "t", caseName: "boot")
            }
            #expect(none == nil)
        }
    }

    @Test(arguments: Engine.available)
    func historyIsNewestFirstByCaseSetOrPackageAndGroup(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            _ = try await store.transaction { tx in
                try await tx.insertCaseResults([
                    row("r1", "p", "s", "c", "PASS", ordinal: 0, upload: "u1", at: 0),
                    row("r2", "p", "s", "c", "FAIL", ordinal: 0, upload: "u2", at: 20),
                    row("r3", "p", "s", "c", "PASS", ordinal: 0, upload: "u3", group: "tablets", at: 10),
                    row("r3", "p", "s", "d", "PASS", ordinal: 1, upload: "u3", group: "tablets", at: 10),
                    row("r3", "p", "t", "c", "PASS", ordinal: 2, upload: "u3", group: "tablets", at: 10),
                    row("r3", "q", "s", "c", "PASS", ordinal: 0, upload: "u4", at: 30),
                ])
            }
            let history = try await store.read { tx in try await tx.caseHistory(package: "p", setName: "s", caseName: "c") }
            #expect(history.map(\.testrunID) == ["r2", "r3", "r1"])
            let phones = try await store.read { tx in
                try await tx.caseHistory(package: "p", setName: "s", caseName: "c", deviceGroup: "phones", limit: 1)
            }
            #expect(phones.map(\.testrunID) == ["r2"])
            let set = try await store.read { tx in try await tx.caseHistory(package: "p", setName: "s") }
            #expect(set.count == 4)
            let package = try await store.read { tx in try await tx.caseHistory(package: "p") }
            #expect(package.count == 5)
            #expect(package.first?.testrunID == "r2")
        }
    }

    @Test(arguments: Engine.available)
    func anUploadAgainReplacesTheCasesOfItsTaskAndPackage(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            _ = try await store.transaction { tx in
                try await tx.insertCaseResults([
                    row("r1", "p", "s", "a", "FAIL", ordinal: 0, upload: "old"),
                    row("r1", "p", "s", "b", "PASS", ordinal: 1, upload: "old"),
                    row("r1", "q", "s", "a", "PASS", ordinal: 0, upload: "other"),
                ])
            }
            let removed = try await store.transaction { tx in
                let removed = try await tx.removeCaseResults(taskID: "k1", package: "p", keeping: "new")
                try await tx.insertCaseResults([row("r1", "p", "s", "a", "PASS", ordinal: 0, upload: "new")])
                // A second part of the same upload removes nothing of it.
                #expect(try await tx.removeCaseResults(taskID: "k1", package: "p", keeping: "new").isEmpty)
                return removed
            }
            #expect(removed.map(\.caseName).sorted() == ["a", "b"])
            let left = try await store.read { tx in try await tx.caseResults(testrunID: "r1") }
            #expect(left.map { "\($0.package)/\($0.caseName)/\($0.result)" } == ["p/a/PASS", "q/a/PASS"])
        }
    }

    @Test(arguments: Engine.available)
    func causesAreStoredAndCountedByWindowGroupAndWorker(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            let ids = try await store.transaction { tx in
                try await tx.insertCaseResults([
                    row("r1", "p", "s", "a", "FAIL", ordinal: 0, at: 0),
                    row("r1", "p", "s", "b", "FAIL", ordinal: 1, at: 0),
                    row("r1", "p", "s", "c", "FAIL", ordinal: 2, worker: "rack/b", at: 0),
                    row("r1", "p", "s", "d", "PASS", ordinal: 3, at: 0),
                    row("r2", "p", "s", "a", "FAIL", ordinal: 0, upload: "u2", group: "tablets", at: 0),
                    row("r3", "p", "s", "a", "FAIL", ordinal: 0, upload: "u3", at: -7200),
                ])
            }
            try await store.transaction { tx in
                try await tx.updateCauses([(ids[0], "device", #"{"kind":"device"}"#), (ids[2], "image", nil), (ids[4], "test", nil)])
            }
            let window = (since: start.addingTimeInterval(-3600), until: start.addingTimeInterval(1))
            let all = try await store.read { tx in try await tx.failureCauses(since: window.since, until: window.until) }
            #expect(all == ["device": 1, "image": 1, "unknown": 1, "test": 1])
            let phones = try await store.read { tx in
                try await tx.failureCauses(since: window.since, until: window.until, deviceGroup: "phones")
            }
            #expect(phones == ["device": 1, "image": 1, "unknown": 1])
            let worker = try await store.read { tx in
                try await tx.failureCauses(since: window.since, until: window.until, worker: "rack/b")
            }
            #expect(worker == ["image": 1])
            let stored = try await store.read { tx in try await tx.caseResults(testrunID: "r1", CaseResultFilter(result: "FAIL")) }
            #expect(stored.first?.cause == "device")
            #expect(stored.first?.causeDetail == #"{"kind":"device"}"#)
            let outcomes = try await store.read { tx in try await tx.caseOutcomes(worker: "rack/a", limit: 10) }
            #expect(outcomes.count == 5, "all of rack/a's, every group")
            let peers = try await store.read { tx in try await tx.caseOutcomes(deviceGroup: "phones", excluding: "rack/a", limit: 10) }
            #expect(peers.map(\.caseName) == ["c"])
        }
    }

    @Test(arguments: Engine.available)
    func caseStatesAreKeptPerCaseAndGroup(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            let key = CaseStateRecord.key(package: "p", setName: "s/1", caseName: "c\"2")
            #expect(key == #"["p","s/1","c\"2"]"#)
            try await store.transaction { tx in
                try await tx.saveCaseStates([
                    CaseStateRecord(
                        caseKey: key, deviceGroup: "phones", package: "p", setName: "s/1", caseName: "c\"2", runs: "1", updatedAt: start),
                    CaseStateRecord(
                        caseKey: key, deviceGroup: "tablets", package: "p", setName: "s/1", caseName: "c\"2", runs: "2", flaky: true,
                        flakySince: start, flakyDetail: "[]", updatedAt: start),
                ])
                try await tx.saveCaseStates([
                    CaseStateRecord(
                        caseKey: key, deviceGroup: "phones", package: "p", setName: "s/1", caseName: "c\"2", runs: "1\n3", flaky: true,
                        flakySince: start.addingTimeInterval(5), updatedAt: start.addingTimeInterval(5))
                ])
            }
            let states = try await store.read { tx in try await tx.caseStates([(key, "phones"), (key, "tablets"), (key, "watches")]) }
            #expect(states.count == 2)
            let phones = try #require(states.first { $0.deviceGroup == "phones" })
            #expect(phones.runs == "1\n3")
            #expect(phones.flaky)
            #expect(phones.flakySince == start.addingTimeInterval(5))
            let flaky = try await store.read { tx in try await tx.flakyCaseStates() }
            #expect(flaky.map(\.deviceGroup) == ["phones", "tablets"])
            let tablets = try await store.read { tx in try await tx.flakyCaseStates(deviceGroup: "tablets") }
            #expect(tablets.map(\.runs) == ["2"])
            #expect(tablets.first?.flakyDetail == "[]")
        }
    }

    @Test(arguments: Engine.available)
    func attemptsAndPackageFilesAreKept(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            try await store.transaction { tx in
                let attempt = CaseAttemptRecord(
                    taskID: "k1", attempt: 2, testrunID: "r1", worker: "rack/a", deviceGroup: "phones", deviceName: "n9", image: "img",
                    claimedAt: start)
                try await tx.saveCaseAttempt(attempt)
                var again = attempt
                again.worker = "rack/other"
                try await tx.saveCaseAttempt(again)
                try await tx.setCaseAttemptPhase(taskID: "k1", attempt: 2, phase: "flash", outcome: "failed")
                try await tx.setCaseAttemptPhase(taskID: "k1", attempt: 2, phase: "flash", outcome: "ok")
                try await tx.setCaseAttemptPhase(taskID: "k1", attempt: 2, phase: "boot", outcome: "failed")
                try await tx.setCaseAttemptPhase(taskID: "k1", attempt: 2, phase: "image; DROP TABLE case_attempts", outcome: "x")
                try await tx.saveCaseFiles(taskID: "k1", package: "p", testrunID: "r1", files: "[1]")
                try await tx.saveCaseFiles(taskID: "k1", package: "p", testrunID: "r1", files: "[2]")
                try await tx.saveCaseFiles(taskID: "k2", package: "a", testrunID: "r1", files: "[3]")
                try await tx.saveCaseFiles(taskID: "k3", package: "a", testrunID: "r2", files: "[4]")
            }
            let attempt = try #require(try await store.read { tx in try await tx.caseAttempt(taskID: "k1", attempt: 2) })
            #expect(attempt.worker == "rack/a", "the first claim's record stays")
            #expect(attempt.flash == "ok")
            #expect(attempt.boot == "failed")
            #expect(attempt.deviceName == "n9" && attempt.image == "img" && attempt.claimedAt == start)
            #expect(try await store.read { tx in try await tx.caseAttempt(taskID: "k1", attempt: 1) } == nil)
            let files = try await store.read { tx in try await tx.caseFiles(testrunID: "r1") }
            #expect(files.map { "\($0.package) \($0.taskID) \($0.files)" } == ["a k2 [3]", "p k1 [2]"])
        }
    }

    @Test(arguments: Engine.available)
    func filesOfAPrefixAreRemovedAndNoOthers(engine: Engine) async throws {
        try await withStore(engine) { store, _ in
            try await store.transaction { tx in
                try await tx.insertTestrun(id: "r1", request: "{}", deviceGroup: "phones", state: .running)
                try await tx.enqueue([NewTask(id: "k1", testrunID: "r1", sequence: 0, routingKey: "phones", work: "{}")])
                for name in ["steps/0-1.stdout", "steps/1-1.stderr", "stepsX.log", "output/a.stdout", "log.txt"] {
                    try await tx.saveFile(FileRecord(taskID: "k1", package: "p", name: name, size: 1), content: [65])
                }
                try await tx.saveFile(FileRecord(taskID: "k1", package: "q", name: "steps/0-1.stdout", size: 1), content: [65])
                try await tx.removeFiles(taskID: "k1", package: "p", namePrefix: "steps/")
            }
            let files = try await store.read { tx in try await tx.files(testrunID: "r1") }
            #expect(files.map { "\($0.package)/\($0.name)" } == ["p/log.txt", "p/output/a.stdout", "p/stepsX.log", "q/steps/0-1.stdout"])
        }
    }
}
