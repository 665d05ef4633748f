import Distribution
import Testing

@testable import OTSBench

/// The set order of a plan, played out by the simulation the schedule
/// benchmark scores: a surprise seen early leaves time to balance.
@Suite struct SetOrderUnderBalancingTests {
    @Test func aSurpriseInASkippedSetIsSeenWhileItsTaskCanStillBalance() {
        // Two workers. Planned: T0 = [7], T1 = [0.001, 4, 2], the first set
        // taken for nothing (it had been skipped) but running 10 s now.
        // Run first, the surprise is under way when T0 ends at 7, 7 s past
        // its estimate: the idle worker takes 4 and 2 (7 to 13), and when
        // the surprise ends at 10 its worker takes the 2 left behind the
        // running 4: 12 s. Run last (after 4 + 2 s), nothing is left to
        // take when T0 ends: 16 s.
        let estimates = [7, 4, 2, 0.001]
        let actual = [7.0, 4, 2, 10]
        let schedule = SetScheduler(taskCost: 0, maxTasks: 2).plan(estimates)
        #expect(schedule.tasks == [[0], [3, 1, 2]])
        func items(_ tasks: [[Int]]) -> [[ScheduleSimulation.Item]] {
            tasks.map { $0.map { ScheduleSimulation.Item(estimate: estimates[$0], actual: actual[$0]) } }
        }
        let simulation = ScheduleSimulation(workers: 2, taskCost: 0, balancing: true)
        let first = simulation.run(items(schedule.tasks))
        let last = simulation.run(items([[0], [1, 2, 3]]))
        #expect(last.makespan == 16)
        #expect(last.moves == 0)
        #expect(first.moves == 2)
        #expect(first.makespan == 12)
    }

    @Test func aNewSetLongerThanItsFolderIsSeenWhileItsTaskCanStillBalance() {
        // Two workers. T0 = [7, new], the new set estimated 3 s (its
        // folder's mean) but running 12; T1 = [5, 4]. Run last (7 + 12), it
        // ends the testrun at 19. Run first, it is seen overrunning when T1
        // ends at 9, and the idle worker takes the 7 s set: 16.
        let estimates = [7.0, 3, 5, 4]
        let actual = [7.0, 12, 5, 4]
        let schedule = SetScheduler(taskCost: 0, maxTasks: 2).plan(estimates, unknown: [false, true, false, false])
        #expect(schedule.tasks == [[1, 0], [2, 3]])
        func items(_ tasks: [[Int]]) -> [[ScheduleSimulation.Item]] {
            tasks.map { $0.map { ScheduleSimulation.Item(estimate: estimates[$0], actual: actual[$0]) } }
        }
        let simulation = ScheduleSimulation(workers: 2, taskCost: 0, balancing: true)
        let first = simulation.run(items(schedule.tasks))
        let last = simulation.run(items([[0, 1], [2, 3]]))
        #expect(last.makespan == 19)
        #expect(first.makespan == 16)
        #expect(first.moves == 1)
    }
}

@Suite struct ScheduleSimulationTests {
    func items(_ seconds: [Double]) -> [ScheduleSimulation.Item] {
        seconds.map { ScheduleSimulation.Item(estimate: $0, actual: $0) }
    }

    @Test func freeWorkersPullTasksInOrderEachPayingTheCost() {
        // W0: 1 + 3 → 4. W1: 1 + 2 → 3, then 1 + 4 → 8.
        let outcome = ScheduleSimulation(workers: 2, taskCost: 1).run([items([3]), items([2]), items([4])])
        #expect(outcome.makespan == 8)
        #expect(outcome.deviceTime == 12)
        #expect(outcome.tasks == 3)
    }

    @Test func aSetThatGrewDoesNotHoldBackTheSetsBehindIt() {
        // T0 = [A, B]: A estimated 5 s runs 20 (it grew), B 4 s; T1 = [C]
        // 9 s. When T1 ends at 9, A has overrun by 4: B moves and runs
        // 9 to 13; A ends the testrun at 20, not 24.
        let tasks = [
            [ScheduleSimulation.Item(estimate: 5, actual: 20), ScheduleSimulation.Item(estimate: 4, actual: 4)],
            [ScheduleSimulation.Item(estimate: 9, actual: 9)],
        ]
        #expect(ScheduleSimulation(workers: 2, taskCost: 0).run(tasks).makespan == 24)
        let outcome = ScheduleSimulation(workers: 2, taskCost: 0, balancing: true).run(tasks)
        #expect(outcome.makespan == 20)
        #expect(outcome.moves == 1)
    }

    @Test func balancingSplitsTheWorkOfAnIdleWorker() {
        let tasks = [items([4, 3, 2, 1])]
        #expect(ScheduleSimulation(workers: 2, taskCost: 0).run(tasks).makespan == 10)
        // At 0 the idle worker takes 3, 2, 1 (6 s against 4 s); at 4 the
        // first, done, takes the 1 left behind the running 2: both end at 5.
        let outcome = ScheduleSimulation(workers: 2, taskCost: 0, balancing: true).run(tasks)
        #expect(outcome.makespan == 5)
        #expect(outcome.moves == 2)
        #expect(outcome.tasks == 3)
        #expect(outcome.deviceTime == 10)
    }

    @Test func balancingPaysForAFlashOnADeviceWithoutTheImage() {
        // With 5 s a task, the idle worker without the image would take
        // 3, 2, 1 and end at 5 + 6 = 11 against 5 + 4 = 9, 15 before: 4 s
        // saved, no more than the cost; later moves save less. Nothing moves.
        let outcome = ScheduleSimulation(workers: 2, taskCost: 5, balancing: true).run([items([4, 3, 2, 1])])
        #expect(outcome.moves == 0)
        #expect(outcome.makespan == 15)
        // With 3 s it saves 4 s (9 against 7, 13 before): the move is made;
        // at 7 the first worker, holding the image, takes the last 1 from
        // behind the running 2 (ends 8).
        let paid = ScheduleSimulation(workers: 2, taskCost: 3, balancing: true).run([items([4, 3, 2, 1])])
        #expect(paid.moves == 2)
        #expect(paid.makespan == 8)
    }
}

@Suite struct RecordingConversionTests {
    @Test func durationReportsBecomeARecording() {
        // A .test_durations (file::case) and a knapsack report (file only).
        let recording = ScheduleBenchmark.Recording.converting([
            ["tests/app/test_a.py::test_one": 1.5, "tests/app/test_a.py::TestB::test_two[x]": 2, "test_top.py::t": 3],
            ["tests/app/test_a.py::test_one": 1.25, "tests/lib/test_c.py::t": 4],
        ])
        #expect(
            recording.units == [
                .init(package: ".", set: "test_top.py", testCase: "t"),
                .init(package: "tests/app", set: "tests/app/test_a.py", testCase: "TestB::test_two[x]"),
                .init(package: "tests/app", set: "tests/app/test_a.py", testCase: "test_one"),
                .init(package: "tests/lib", set: "tests/lib/test_c.py", testCase: "t"),
            ])
        #expect(recording.versions == [[3, 2, 1.5, nil], [nil, nil, 1.25, 4]])

        let knapsack = ScheduleBenchmark.Recording.converting(
            [["spec/models/admin/x_spec.rb": 2, "spec/y_spec.rb": 1], ["spec/models/admin/x_spec.rb": 3]], packageDepth: 2)
        #expect(
            knapsack.units == [
                .init(package: "spec/models", set: "spec/models/admin/x_spec.rb", testCase: nil),
                .init(package: "spec", set: "spec/y_spec.rb", testCase: nil),
            ])
        #expect(knapsack.versions == [[2, 1], [3, nil]])
        // Replayed like any recording: one version planned from the first.
        let cells = ScheduleBenchmark(workers: [2], taskCosts: [0]).run(knapsack)
        #expect(cells.first?.scores[.history]?.count == 1)
    }
}
