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
