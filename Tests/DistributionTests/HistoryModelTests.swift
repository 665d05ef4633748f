import OTSCore
import Testing

@testable import Distribution

@Suite struct HistoryModelTests {
    let model = HistoryModel { _ in throw CancellationError() }

    func request(_ names: [String], max: Int? = nil, target: Int? = nil) -> DistributionRequest {
        DistributionRequest(
            packages: names.map { PackageRequest(name: $0) }, device: DeviceProperties(devicegroup: "phones"), maxWorkerAmount: max,
            targetExecutionTime: target)
    }

    func structure(_ name: String, _ sets: [String]?, complete: Bool = true, whole: Bool = false) -> PackageStructure {
        PackageStructure(
            package: PackageRequest(name: name), sets: sets?.map { PackageStructure.TestSet(name: $0) }, setsAreComplete: complete,
            whole: whole)
    }

    /// p's sets a 40, b 30, c 20, d 10; w (whole) 50 as a package.
    var inputs: HistoryModel.Inputs {
        HistoryModel.Inputs(
            packages: [structure("p", ["a", "b", "c", "d"]), structure("w", ["x", "y"], whole: true)],
            samples: [
                RunTimeSample(package: "p", set: "a", seconds: 40), RunTimeSample(package: "p", set: "b", seconds: 30),
                RunTimeSample(package: "p", set: "c", seconds: 20), RunTimeSample(package: "p", set: "d", seconds: 10),
                RunTimeSample(package: "w", set: nil, seconds: 50),
            ],
            taskCost: 10, availableWorkers: 3)
    }

    @Test func setsOfAPackageGoToDifferentTasksAndAWholePackageStaysWhole() {
        // LPT on three tasks: w 50 | a 40 + d 10 | b 30 + c 20; 10 s a task.
        let plan = model.plan(request(["p", "w"]), inputs: inputs)
        #expect(plan.tasks.count == 3)
        #expect(plan.tasks[0].packages == [TaskWork.Package(name: "w", location: .device)])
        #expect(plan.tasks[1].packages == [TaskWork.Package(name: "p", location: .device, sets: ["a", "d"], setOrder: ["a", "d"])])
        #expect(plan.tasks[2].packages == [TaskWork.Package(name: "p", location: .device, sets: ["b", "c"], setOrder: ["b", "c"])])
        let record = plan.record
        #expect(record?.model == "history")
        #expect(record?.estimatedMakespanSeconds == 60)
        #expect(record?.taskCostSeconds == 10)
        #expect(record?.taskCostSource == "statistics")
        #expect(record?.degraded == false)
        #expect(record?.estimates?.map(\.task) == [1, 2, 2, 1, 0])
        #expect(record?.estimates?.last == PlanRecord.Estimate(package: "w", set: nil, seconds: 50, source: "last_run", task: 0))
    }

    @Test func maxWorkerAmountCapsTheTasks() {
        // Two tasks: w 50, then c 20 and d 10 (80) | a 40 + b 30 (70).
        let plan = model.plan(request(["p", "w"], max: 2), inputs: inputs)
        #expect(plan.tasks.count == 2)
        #expect(
            plan.tasks[0].packages == [
                TaskWork.Package(name: "w", location: .device),
                TaskWork.Package(name: "p", location: .device, sets: ["c", "d"], setOrder: ["c", "d"]),
            ])
        #expect(plan.tasks[1].packages == [TaskWork.Package(name: "p", location: .device, sets: ["a", "b"], setOrder: ["a", "b"])])
        #expect(plan.record?.estimatedMakespanSeconds == 90)
    }

    @Test func setsLearnedFromHistoryLeaveTheRestToTheTaskWithTheLongest() {
        // x 30 | y 20 + z 10: the task with x runs every set but y and z,
        // so a set history never saw still runs, once.
        let inputs = HistoryModel.Inputs(
            packages: [structure("l", ["x", "y", "z"], complete: false)],
            samples: [
                RunTimeSample(package: "l", set: "x", seconds: 30), RunTimeSample(package: "l", set: "y", seconds: 20),
                RunTimeSample(package: "l", set: "z", seconds: 10),
            ],
            taskCost: 0, availableWorkers: 2)
        let plan = model.plan(request(["l"]), inputs: inputs)
        #expect(
            plan.tasks.map(\.packages) == [
                [TaskWork.Package(name: "l", location: .device, skipSets: ["y", "z"], setOrder: ["x"])],
                [TaskWork.Package(name: "l", location: .device, sets: ["y", "z"], setOrder: ["y", "z"])],
            ])
        #expect(plan.tasks[0].packages[0].runs(set: "new") && !plan.tasks[1].packages[0].runs(set: "new"))
    }

    @Test func withoutHistoryItPlansByCasesAndSaysSo() {
        // 30 s a case: s1 60 s, s2 30 s; no statistics: 120 s a task. One
        // task 210 s, two 180 s.
        let inputs = HistoryModel.Inputs(
            packages: [
                PackageStructure(
                    package: PackageRequest(name: "q"),
                    sets: [PackageStructure.TestSet(name: "s1", cases: 2), PackageStructure.TestSet(name: "s2", cases: 1)])
            ],
            samples: [], taskCost: nil, availableWorkers: 4, monitorBacklog: 5000)
        let plan = model.plan(request(["q"]), inputs: inputs)
        #expect(plan.tasks.count == 2)
        #expect(plan.record?.estimatedMakespanSeconds == 180)
        #expect(plan.record?.taskCostSource == "default")
        #expect(plan.record?.degraded == true)
        #expect(plan.record?.monitorBacklog == 5000)
        #expect(plan.notes.contains { $0.contains("no history for 1 of 1 packages") })
        #expect(plan.notes.contains { $0.contains("the monitor has 5000 events to consume") })
    }

    @Test func eachTaskRunsItsLongestSetsFirst() {
        // Defined a 10, b 40, c 30, d 20; one worker: one task, every set,
        // run longest first.
        let inputs = HistoryModel.Inputs(
            packages: [structure("p", ["a", "b", "c", "d"])],
            samples: [("a", 10.0), ("b", 40), ("c", 30), ("d", 20)].map { RunTimeSample(package: "p", set: $0.0, seconds: $0.1) },
            taskCost: 10, availableWorkers: 1)
        let plan = model.plan(request(["p"]), inputs: inputs)
        #expect(plan.tasks.map(\.packages) == [[TaskWork.Package(name: "p", location: .device, setOrder: ["b", "c", "d", "a"])]])

        // Two workers: b 40 + a 10 | c 30 + d 20, each longest first.
        var two = inputs
        two.availableWorkers = 2
        #expect(
            model.plan(request(["p"]), inputs: two).tasks.map { $0.packages.map(\.setOrder) } == [[["b", "a"]], [["c", "d"]]])
    }

    @Test func aSetNeverSeenRunsFirstInItsTask() {
        // a 40, b 30 recorded; n new (their mean, 35). One task: n first,
        // then longest first, so a surprise in n is known early.
        let inputs = HistoryModel.Inputs(
            packages: [structure("p", ["a", "b", "n"])],
            samples: [("a", 40.0), ("b", 30)].map { RunTimeSample(package: "p", set: $0.0, seconds: $0.1) },
            taskCost: 0, availableWorkers: 1)
        let plan = model.plan(request(["p"]), inputs: inputs)
        #expect(plan.tasks.map(\.packages) == [[TaskWork.Package(name: "p", location: .device, setOrder: ["n", "a", "b"])]])
        #expect(plan.record?.estimates?.last?.source == "package_mean")
    }

    @Test func aPackageItsDefinitionKeepsWholeRunsInOneTaskInDefinitionOrder() {
        // k is kept whole: its sets' estimates add up to one item of 60 s
        // (x 35, y 25), which no task shares with another of k's sets; p's
        // sets (a 40, b 30, c 20, d 10) spread over the other tasks.
        let inputs = HistoryModel.Inputs(
            packages: [structure("p", ["a", "b", "c", "d"]), structure("k", ["x", "y"], whole: true)],
            samples: [
                RunTimeSample(package: "p", set: "a", seconds: 40), RunTimeSample(package: "p", set: "b", seconds: 30),
                RunTimeSample(package: "p", set: "c", seconds: 20), RunTimeSample(package: "p", set: "d", seconds: 10),
                RunTimeSample(package: "k", set: "x", seconds: 35), RunTimeSample(package: "k", set: "y", seconds: 25),
            ],
            taskCost: 0, availableWorkers: 3)
        let plan = model.plan(request(["p", "k"]), inputs: inputs)
        let holding = plan.tasks.filter { $0.packages.contains { $0.name == "k" } }
        #expect(holding.count == 1)
        // Every set of it, in definition order (its sets may depend on it).
        #expect(holding.first?.packages.first { $0.name == "k" } == TaskWork.Package(name: "k", location: .device))
        #expect(plan.tasks.count == 3)
        #expect(plan.record?.estimates?.filter { $0.package == "k" }.map(\.set) == [nil])
        #expect(plan.record?.estimates?.first { $0.package == "k" }?.seconds == 60)
        #expect(plan.notes.contains("1 packages kept whole by their definitions: each runs in one task, in definition order"))

        // The same package without the definition's word is split.
        var split = inputs
        split.packages[1].whole = false
        #expect(model.plan(request(["p", "k"]), inputs: split).tasks.filter { $0.packages.contains { $0.name == "k" } }.count == 2)
    }

    @Test func withoutWorkersItPlansForTheRequestedAmount() {
        var inputs = self.inputs
        inputs.availableWorkers = 0
        #expect(model.plan(request(["p", "w"]), inputs: inputs).tasks.count == 1)
        #expect(model.plan(request(["p", "w"], max: 2), inputs: inputs).tasks.count == 2)
    }

    @Test func aTargetTakesFewerTasks() {
        // Target 95 s: one task 160 s, two 90 s.
        let plan = model.plan(request(["p", "w"], target: 95), inputs: inputs)
        #expect(plan.tasks.count == 2)
        #expect(plan.record?.meetsTarget == true)
    }
}
