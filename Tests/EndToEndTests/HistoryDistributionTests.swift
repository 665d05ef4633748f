import Foundation
import OTSClient
import OTSCore
import TestDefinition
import Testing

/// The history model end to end: a real server, four real workers and a
/// real monitor recording the run times it plans from.
@Suite(.serialized, .timeLimit(.minutes(10))) struct HistoryDistributionTests {
    static let sets = ["boot-sequence", "network", "storage", "display", "audio", "sensors", "power", "locale"]

    @Test(arguments: FarmEngine.available)
    func historySplitsAPackagesSetsAcrossFourWorkers(engine: FarmEngine) async throws {
        let workers = (1...4).map { TestFarm.WorkerSpec(name: "w\($0)") }
        try await TestFarm.with(engine: engine, workers: workers) { farm in
            // A loaded machine must not make the monitor count a worker offline.
            let (_, monitorURL) = try await farm.startMonitor(settings: "missed_heartbeats = 30\n")
            // An earlier testrun, the package whole in one task, records each set's run time.
            let earlier = try await farm.client.submit(request(device: ["uneven-sets"], model: "perpackage"))
            let first = try await farm.waitForEnd(earlier.id)
            #expect(first.verdict == .pass, "\(first.summaryText)\n\(farm.logs)")
            try await farm.waitForSetHistory(testrunID: earlier.id, count: Self.sets.count)
            try await farm.waitForWorkers(4)

            let submitted = try await farm.client.submit(request(device: ["uneven-sets"], model: "history"))
            let plan = try #require(submitted.plan)
            #expect(plan.model == "history")
            #expect(plan.workersAvailable == 4)
            #expect(plan.tasks == 4, "\(plan.notes)")
            #expect(plan.degraded == false, "\(plan.notes)")
            #expect(plan.taskCostSource == "statistics", "the earlier testrun's flash and boot count")
            let estimates = try #require(plan.estimates)
            #expect(estimates.compactMap(\.set).sorted() == Self.sets.sorted())
            #expect(estimates.allSatisfy { $0.source == "last_run" }, "\(estimates)")
            // Balanced: every task has work, and (longest first onto the
            // least loaded) no two differ by more than the longest set,
            // where the earlier testrun had all of it in one task.
            var loads = Array(repeating: 0.0, count: plan.tasks)
            for estimate in estimates { loads[estimate.task] += estimate.seconds }
            let longest = try #require(estimates.map(\.seconds).max())
            #expect(loads.allSatisfy { $0 > 0 }, "\(loads)")
            #expect(loads.max()! - loads.min()! <= longest + 1e-9, "\(loads)")
            #expect(loads.max()! < loads.reduce(0, +) / 2, "\(loads)")

            let ended = try await farm.waitForEnd(submitted.id)
            #expect(ended.verdict == .pass, "\(ended.summaryText)\n\(farm.logs)")
            // Four planned tasks, and one more for each balancing move.
            let tasks = try #require(ended.tasks)
            #expect(tasks.count >= 4)
            // Each set is held by exactly one task at the end: the one the
            // plan chose, unless balancing moved it (to a task of its own).
            let all = try await farm.monitoredEvents(monitorURL, testrunID: submitted.id)
            let events = all.filter { $0.type == .setFinished }
            for set in Self.sets {
                let runners = tasks.filter { $0.work?.packages.first?.runs(set: set) == true }
                #expect(runners.count == 1, "\(set): \(tasks.map { $0.work as Any })")
                let runner = try #require(runners.first)
                let planned = try #require(estimates.first { $0.set == set }).task
                #expect(runner.sequence == planned || runner.sequence >= plan.tasks, "\(set)")
                // And it really ran there, once (in the attempt that counts,
                // should the task have been requeued).
                let ran = events.filter { $0.set == set && $0.attempt == runner.attempts }
                #expect(ran.map(\.taskID) == [runner.id], "\(set)")
            }
            #expect(Set(events.compactMap(\.taskID)).count >= 4, "the sets ran in four tasks at least")
            // Each task ran its sets in the plan's order, longest estimated first.
            for task in tasks {
                let order = try #require(task.work?.packages.first?.setOrder, "\(task.id)")
                let ran = events.filter { $0.taskID == task.id && $0.attempt == task.attempts }.sorted { $0.emittedAt < $1.emittedAt }
                    .compactMap(\.set)
                #expect(ran == order.filter { ran.contains($0) } && Set(ran).isSubset(of: order), "\(ran) against \(order)")
            }
            // The merged results hold every set once.
            let xml = try await farm.client.results(id: submitted.id, format: "xml")
            let results = try ResultsParser().parse(Data(xml), file: "merged results")
            let names = results.suites.flatMap { $0.sets.map(\.attributes.name) }
            #expect(names.sorted() == Self.sets.sorted())
            #expect(results.suites.count == 1, "one suite, its sets from four tasks")

            // ots status shows the plan and each task's sets.
            let status = try await OTSBinary.run(["status", "--server", farm.baseURL, submitted.id], in: farm.workspace.path)
            #expect(status.stdout.contains("  plan: history, 4 tasks, estimated "), "\(status.stdout)")
            #expect(status.stdout.contains("uneven-sets ["), "\(status.stdout)")

            let planned = all.first { $0.type == .testrunPlanned }
            #expect(planned?.details?["tasks"] == "4")
        }
    }

    @Test func aDevicePackageItsDefinitionKeepsWholeIsLearnedFromItsRunAndStaysInOneTask() async throws {
        let workers = (1...4).map { TestFarm.WorkerSpec(name: "w\($0)") }
        try await TestFarm.with(engine: .sqlite, workers: workers) { farm in
            _ = try await farm.startMonitor(settings: "missed_heartbeats = 30\n")
            // The server cannot read a device package's tests.xml; its run says
            // `<?ots keep-whole="true"?>`, and the monitor records it.
            let earlier = try await farm.client.submit(request(device: ["kept-whole", "uneven-sets"], model: "perpackage"))
            #expect(try await farm.waitForEnd(earlier.id).verdict == .pass, "\(farm.logs)")
            try await farm.waitForSetHistory(testrunID: earlier.id, count: 4 + Self.sets.count)
            try await farm.waitForWorkers(4)

            let submitted = try await farm.client.submit(request(device: ["kept-whole", "uneven-sets"], model: "history"))
            let plan = try #require(submitted.plan)
            #expect(plan.tasks == 4, "\(plan.notes)")
            let estimates = try #require(plan.estimates)
            let kept = estimates.filter { $0.package == "kept-whole" }
            #expect(kept.count == 1 && kept.first?.set == nil, "planned as one item: \(kept)")
            #expect(plan.notes.contains { $0.contains("kept whole") }, "\(plan.notes)")
            #expect(estimates.filter { $0.package == "uneven-sets" }.count == Self.sets.count, "the other package is still split")

            let ended = try await farm.waitForEnd(submitted.id)
            #expect(ended.verdict == .pass, "\(ended.summaryText)\n\(farm.logs)")
            let holders = try #require(ended.tasks).filter { $0.work?.packages.contains { $0.name == "kept-whole" } == true }
            #expect(holders.count == 1, "one task runs the whole package, balancing moves none of it: \(holders.map(\.id))")
            let work = try #require(holders.first?.work?.packages.first { $0.name == "kept-whole" })
            #expect(work.sets == nil && work.skipSets == nil, "all its sets, in definition order")
        }
    }

    @Test(arguments: FarmEngine.available)
    func idleWorkersTakeSetsNotStartedAndEachRunsOnce(engine: FarmEngine) async throws {
        let gate = FileManager.default.temporaryDirectory.path + "/ots-gate-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: gate) }
        func worker(_ name: String) -> TestFarm.WorkerSpec {
            var spec = TestFarm.WorkerSpec(name: name)
            spec.environment = ["OTS_GATE": gate]
            return spec
        }
        let sets = ["gate", "first", "second", "third", "fourth"]
        try await TestFarm.with(engine: engine, workers: [worker("w1")]) { farm in
            let (_, monitorURL) = try await farm.startMonitor(settings: "missed_heartbeats = 30\n")
            // The earlier testrun passes the gate at once: the four other sets take about 0.5 s each.
            FileManager.default.createFile(atPath: gate, contents: nil)
            let earlier = try await farm.client.submit(request(device: ["gated-sets"]))
            #expect(try await farm.waitForEnd(earlier.id).verdict == .pass)
            try await farm.waitForSetHistory(testrunID: earlier.id, count: sets.count)
            try FileManager.default.removeItem(atPath: gate)

            // One worker online: one task, which stops at the gate.
            let submitted = try await farm.client.submit(request(device: ["gated-sets"], model: "history"))
            #expect(submitted.plan?.tasks == 1, "\(submitted.plan?.notes ?? [])")
            _ = try await farm.waitFor(submitted.id, "the task to start") { $0.tasks?.first?.phase == "test" }
            // Two more workers find nothing queued and take sets not started.
            try farm.startWorker(worker("w2"))
            try farm.startWorker(worker("w3"))
            let moved = try await farm.waitFor(submitted.id, "sets to move to another task") { ($0.tasks?.count ?? 0) >= 2 }
            #expect(moved.tasks?.first?.work?.packages.first?.skipSets?.isEmpty == false, "the first task leaves them")
            FileManager.default.createFile(atPath: gate, contents: nil)

            let ended = try await farm.waitForEnd(submitted.id)
            #expect(ended.verdict == .pass, "\(ended.summaryText)\n\(farm.logs)")
            let tasks = try #require(ended.tasks)
            let events = try await farm.monitoredEvents(monitorURL, testrunID: submitted.id)
            let finished = events.filter { $0.type == .setFinished }
            for set in sets {
                let holders = tasks.filter { $0.work?.packages.first?.runs(set: set) == true }
                #expect(holders.count == 1, "\(set) is held by one task")
                let ran = finished.filter { $0.set == set && $0.attempt == holders.first?.attempts }
                #expect(ran.map(\.taskID) == holders.map(\.id), "\(set) ran once, where it is held")
            }
            #expect(finished.first { $0.set == "gate" }?.taskID == tasks.first?.id, "a started set never moves")
            let movedFrom = events.filter { $0.type == .taskQueued && $0.details?["moved_from"] != nil }
            #expect(movedFrom.count == tasks.count - 1)
            let xml = try await farm.client.results(id: submitted.id, format: "xml")
            let results = try ResultsParser().parse(Data(xml), file: "merged results")
            #expect(results.suites.flatMap { $0.sets.map(\.attributes.name) }.sorted() == sets.sorted())
        }
    }
}
