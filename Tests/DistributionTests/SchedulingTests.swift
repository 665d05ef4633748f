import OTSCore
import Testing

@testable import Distribution

@Suite struct SetSchedulerTests {
    @Test func longestFirstOntoTheLeastLoadedTask() {
        // 7 → T0; 5 → T1; 4 → T1 (5 < 7): 9; 3 → T0 (7 < 9): 10; 3 → T1: 12.
        let schedule = SetScheduler(taskCost: 0, maxTasks: 2).plan([7, 5, 4, 3, 3])
        #expect(schedule.tasks == [[1, 2, 4], [0, 3]])
        #expect(schedule.loads == [12, 10])
        #expect(schedule.estimatedMakespan == 12)
    }

    @Test func setsThatRanInNoTimeGoFirstInTheirTask() {
        // Longest first: 7 → T0, 5 → T1, 4 → T1, 0.002 → T0, 0.001 → T0 (7.002 < 9).
        // In T0 the two sets that took no time run before the 7 s one.
        let schedule = SetScheduler(taskCost: 0, maxTasks: 2).plan([0.002, 7, 5, 4, 0.001])
        #expect(schedule.tasks == [[2, 3], [0, 4, 1]])
        #expect(schedule.loads[1] > 7 && schedule.loads[1] < 7.01)
    }

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

    @Test func setsUnderHalfASecondGoFirstToo() {
        // A set that took 0.1 s in every run may have had its cases
        // skipped as much as one that took 0.001 s: it goes first as well.
        let schedule = SetScheduler(taskCost: 0, maxTasks: 1).plan([3, 0.1, 0.6, 0.4])
        #expect(schedule.tasks == [[3, 1, 0, 2]])
    }

    @Test func setsNeverSeenRunFirstAfterTheNegligibleOnes() {
        // LPT: 7 → T0, 5 → T1, 4 → T1 (9), 3 → T0 (10), 0.2 → T1 (9.2).
        // 3 is new, so T0 runs it before the 7 s set; T1 runs 0.2 first.
        let schedule = SetScheduler(taskCost: 0, maxTasks: 2).plan([7, 5, 4, 3, 0.2], unknown: [false, false, false, true, false])
        #expect(schedule.tasks == [[3, 0], [4, 1, 2]])
        // Without the flags, longest first.
        #expect(SetScheduler(taskCost: 0, maxTasks: 2).plan([7, 5, 4, 3, 0.2]).tasks == [[0, 3], [4, 1, 2]])
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

    @Test func theTaskCostCountsAndTiesGoToMoreTasks() {
        // With 5 s a task: one task 17 s, two 15 s (10 | 1 + 1), three 15 s
        // (10 | 1 | 1): three, the most that are as fast.
        let schedule = SetScheduler(taskCost: 5, maxTasks: 4).plan([10, 1, 1])
        #expect(schedule.tasks.count == 3)
        #expect(schedule.estimatedMakespan == 15)
        #expect(schedule.estimatedDeviceTime == 27)
    }

    @Test func aTargetTakesTheFewestTasksThatMeetIt() {
        // Four 6 s sets, 2 s a task: 26 s on one task, 14 s on two.
        let met = SetScheduler(taskCost: 2, maxTasks: 4, target: 15).plan([6, 6, 6, 6])
        #expect(met.tasks.count == 2)
        #expect(met.meetsTarget == true)
        // 5 s cannot be met (8 s at best): the fastest plan.
        let missed = SetScheduler(taskCost: 2, maxTasks: 4, target: 5).plan([6, 6, 6, 6])
        #expect(missed.tasks.count == 4)
        #expect(missed.estimatedMakespan == 8)
        #expect(missed.meetsTarget == false)
    }

    @Test func neverMoreTasksThanAllowed() {
        let schedule = SetScheduler(taskCost: 0, maxTasks: 3).plan(Array(repeating: 1, count: 10))
        #expect(schedule.tasks.count == 3)
        #expect(schedule.loads == [4, 3, 3])
    }
}

@Suite struct RebalancerTests {
    @Test func theIdleWorkerTakesTheTailThatBalancesBest() {
        // B has 14 s left: 2 running, then 6, 4, 2. Taking 4 + 2 leaves
        // 8 s against 6 s: 6 s earlier; taking 2 saves 2, taking all 2.
        let move = Rebalancer.decide(
            [Rebalancer.RunningTask(started: 0, pending: []), Rebalancer.RunningTask(started: 2, pending: [6, 4, 2])], cost: 0)
        #expect(move == Rebalancer.Move(task: 1, first: 1, seconds: 6, saving: 6))
    }

    @Test func nothingMovesWhenTheSavingIsNoMoreThanTheCost() {
        // With 5 s to pay, the best move (4 + 2: 8 s against 11 s) saves 3.
        #expect(Rebalancer.decide([Rebalancer.RunningTask(started: 2, pending: [6, 4, 2])], cost: 5) == nil)
        #expect(Rebalancer.decide([Rebalancer.RunningTask(started: 20, pending: [])], cost: 0) == nil)
    }

    @Test func aRunningSetPastItsEstimateCountsAsRunningOnByItsOverrun() {
        // The running set was estimated to end 10 s ago: it is taken to run
        // 10 s more, so the 5 s set behind it moves (10 against 5: 5 s
        // earlier). Taken as ending now, the task had 5 s left: no move.
        let overrun = Rebalancer.RunningTask(started: -10, pending: [5])
        #expect(overrun.remaining == 15)
        let idle = Rebalancer.RunningTask(started: 0, pending: [])
        #expect(Rebalancer.decide([idle, overrun], cost: 0) == Rebalancer.Move(task: 1, first: 0, seconds: 5, saving: 5))
        #expect(Rebalancer.decide([idle, Rebalancer.RunningTask(started: 0, pending: [5])], cost: 0) == nil)
        #expect(Rebalancer.RunningTask(started: -.infinity, pending: []).started == 0)
    }

    @Test func itTakesFromTheTaskWithTheMostWorkLeft() {
        let move = Rebalancer.decide(
            [Rebalancer.RunningTask(started: 0, pending: [3, 3]), Rebalancer.RunningTask(started: 10, pending: [1])], cost: 0)
        #expect(move?.task == 1)
        #expect(move?.first == 0)
        #expect(move?.saving == 1)
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
