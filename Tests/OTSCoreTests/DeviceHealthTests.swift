import Foundation
import Testing

@testable import OTSCore

/// The health rules as tables: a device's story (its tasks, its claims,
/// its health checks, an operator's commands, time passing), and what
/// the machine decided.
@Suite struct DeviceHealthTests {
    /// One thing that happens to the device.
    enum Step: Sendable, CustomStringConvertible {
        /// A task ended; `true`: with a `device` error.
        case task(device: Bool)
        /// A task ended with an error of another category.
        case taskFailed(ErrorCategory)
        /// It asks for work.
        case claim
        /// The health check under way ended.
        case check(Verdict)
        case maintenance
        case online
        case retire
        /// Seconds pass.
        case wait(Double)

        var description: String {
            switch self {
            case .task(let device): device ? "D" : "ok"
            case .taskFailed(let category): "fail(\(category))"
            case .claim: "claim"
            case .check(let verdict): "check \(verdict)"
            case .maintenance: "maintenance"
            case .online: "online"
            case .retire: "retire"
            case .wait(let seconds): "+\(Int(seconds))s"
            }
        }
    }

    struct Story: Sendable, CustomTestStringConvertible {
        var name: String
        var start: Health = .good
        var rules: HealthRules = DeviceHealthTests.rules()
        var steps: [Step]
        /// The health it ends with.
        var health: Health
        /// Every change of health, in order.
        var changes: [Health]
        /// How many health checks started.
        var checks = 0
        /// What it may claim at the end.
        var claims: DeviceHealth.Claims? = nil
        var testDescription: String { name }
    }

    static func rules(badAfter: Int = 3, window: Int = 5, badRate: Double = 0.5, maxChecks: Int = 3, check: Bool = false) -> HealthRules {
        var rules = HealthRules()
        rules.badAfter = badAfter
        rules.window = window
        rules.badRate = badRate
        rules.maxHealthChecks = maxChecks
        rules.backoff = 10
        rules.backoffMax = 15
        rules.hasHealthCheck = check
        return rules
    }

    static let stories: [Story] = [
        Story(
            name: "bad_after device failures in a row make a good device bad",
            steps: [.task(device: true), .task(device: true), .task(device: true)],
            health: .bad, changes: [.bad], claims: .healthCheck),
        Story(
            name: "a task without a device error breaks the streak", rules: rules(window: 20),
            steps: [.task(device: true), .task(device: true), .task(device: false), .task(device: true), .task(device: true)],
            health: .good, changes: []),
        Story(
            name: "other errors are not the device's", steps: [.taskFailed(.test), .taskFailed(.infrastructure), .taskFailed(.image)],
            health: .good, changes: []),
        Story(
            name: "a failure rate above bad_rate over a full window makes it bad", rules: rules(badAfter: 10),
            steps: [.task(device: true), .task(device: false), .task(device: true), .task(device: false), .task(device: true)],
            health: .bad, changes: [.bad]),
        Story(
            name: "a rate at bad_rate is not above it", rules: rules(badAfter: 10, window: 4),
            steps: [.task(device: true), .task(device: false), .task(device: true), .task(device: false)], health: .good, changes: []),
        Story(
            name: "the rate is judged only over a full window", rules: rules(badAfter: 10),
            steps: [.task(device: true), .task(device: false), .task(device: true)], health: .good, changes: []),
        Story(
            name: "an unknown device becomes good when it asks for work and its group has no health check", start: .unknown,
            steps: [.claim], health: .good, changes: [.good], claims: .work),
        Story(
            name: "an unknown device runs its health check first; PASS makes it good", start: .unknown, rules: rules(check: true),
            steps: [.claim, .claim, .check(.pass), .claim], health: .good, changes: [.good], checks: 1, claims: .work),
        Story(
            name: "an unknown device whose check fails is bad", start: .unknown, rules: rules(check: true),
            steps: [.claim, .check(.error)], health: .bad, changes: [.bad], checks: 1, claims: .healthCheck),
        Story(
            name: "a bad device's checks back off, doubling up to the maximum, then it waits in maintenance", start: .bad,
            rules: rules(check: true),
            steps: [
                .claim, .check(.fail), .wait(9), .claim, .wait(1), .claim, .check(.error), .wait(14), .claim, .wait(1), .claim,
                .check(.fail), .wait(100), .claim,
            ], health: .maintenance, changes: [.maintenance], checks: 3, claims: .nothing),
        Story(
            name: "a bad device's passing check makes it good and forgets the failures", start: .bad, rules: rules(check: true),
            steps: [.claim, .check(.fail), .wait(10), .claim, .check(.pass), .task(device: true), .task(device: true)],
            health: .good, changes: [.good], checks: 2),
        Story(
            name: "a device turned bad by its tasks runs its check at once", rules: rules(check: true),
            steps: [.task(device: true), .task(device: true), .task(device: true), .claim], health: .bad, changes: [.bad], checks: 1),
        Story(
            name: "a bad device without a health check waits for a person", start: .bad, steps: [.claim, .wait(1000), .claim],
            health: .bad, changes: [], claims: .healthCheck),
        Story(
            name: "maintenance takes nothing; online runs the check first, then it takes work", rules: rules(check: true),
            steps: [.maintenance, .claim, .task(device: true), .online, .claim, .check(.pass), .claim], health: .good,
            changes: [.maintenance, .unknown, .good], checks: 1, claims: .work),
        Story(
            name: "online without a health check: good at its next claim", start: .maintenance, steps: [.online, .claim],
            health: .good, changes: [.unknown, .good], claims: .work),
        Story(
            name: "maintenance cancels the check under way; its late end changes nothing", start: .bad, rules: rules(check: true),
            steps: [.claim, .maintenance, .check(.pass)], health: .maintenance, changes: [.maintenance], checks: 1, claims: .nothing),
        Story(
            name: "a retired device takes nothing until brought online", steps: [.retire, .claim, .online], health: .unknown,
            changes: [.retired, .unknown], claims: .work),
        Story(
            name: "a good device's failing periodic check makes it bad",
            rules: {
                var every = DeviceHealthTests.rules(check: true)
                every.checkEvery = 2
                return every
            }(), steps: [.task(device: false), .claim, .task(device: false), .claim, .check(.fail)], health: .bad, changes: [.bad],
            checks: 1),
        Story(
            name: "a good device's check is due after health_check_interval",
            rules: {
                var hourly = DeviceHealthTests.rules(check: true)
                hourly.checkInterval = 3600
                return hourly
            }(), steps: [.claim, .wait(3599), .claim, .wait(1), .claim, .check(.pass), .wait(3599), .claim], health: .good, changes: [],
            checks: 1),
    ]

    @Test(arguments: stories)
    func story(_ story: Story) {
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        var now = start
        var machine = DeviceHealth(state: DeviceHealth.State(health: story.start, since: start), rules: story.rules)
        var changes: [Health] = []
        var started: [String] = []
        var tasks = 0
        for step in story.steps {
            let action: DeviceHealth.Action
            switch step {
            case .task(let device):
                tasks += 1
                action = machine.handle(.taskEnded(task: "t\(tasks)", category: device ? .device : nil), at: now)
            case .taskFailed(let category):
                tasks += 1
                action = machine.handle(.taskEnded(task: "t\(tasks)", category: category), at: now)
            case .claim:
                action = machine.handle(.wantsWork(checkID: "c\(started.count + 1)"), at: now)
            case .check(let verdict):
                action = machine.handle(.checkEnded(testrun: "c\(started.count)", verdict: verdict), at: now)
            case .maintenance: action = machine.handle(.maintenance(reason: "cable"), at: now)
            case .online: action = machine.handle(.online(reason: "fixed"), at: now)
            case .retire: action = machine.handle(.retire(reason: "old"), at: now)
            case .wait(let seconds):
                now = now.addingTimeInterval(seconds)
                continue
            }
            #expect(action.rejection == nil, "\(step)")
            if let change = action.change {
                #expect(change.from != change.to)
                changes.append(change.to)
            }
            if let id = action.startCheck { started.append(id) }
            #expect(action.state == machine.state)
        }
        #expect(machine.state.health == story.health, "\(story.steps)")
        #expect(changes == story.changes, "\(story.steps)")
        #expect(started.count == story.checks, "\(story.steps)")
        if let claims = story.claims { #expect(machine.claims == claims) }
    }

    @Test func aChangeSaysWhyAndNamesTheTasksThatCausedIt() {
        var machine = DeviceHealth(state: .init(health: .good, since: .distantPast), rules: Self.rules())
        _ = machine.handle(.taskEnded(task: "a", category: nil), at: Date())
        _ = machine.handle(.taskEnded(task: "b", category: .device), at: Date())
        _ = machine.handle(.taskEnded(task: "c", category: .device), at: Date())
        let now = Date(timeIntervalSince1970: 2_000_000_000)
        let action = machine.handle(.taskEnded(task: "d", category: .device), at: now)
        #expect(action.change?.from == .good)
        #expect(action.change?.evidence == ["b", "c", "d"])
        #expect(action.change?.reason == "3 tasks in a row failed with device errors (bad_after = 3)")
        #expect(machine.state.since == now)
        #expect(machine.state.nextCheckAt == nil, "a device just turned bad is checked at once")

        var rate = DeviceHealth(state: .init(health: .good, since: .distantPast), rules: Self.rules(badAfter: 10, window: 4))
        for (task, device) in [("a", true), ("b", false), ("c", true), ("d", true)] {
            _ = rate.handle(.taskEnded(task: task, category: device ? .device : nil), at: now)
        }
        #expect(rate.state.health == .bad)
        #expect(rate.state.evidence == ["a", "c", "d"])
        #expect(rate.state.reason == "3 of the last 4 tasks failed with device errors (more than bad_rate = 0.5)")
    }

    @Test func theWindowKeepsOnlyTheNewestTasks() {
        var machine = DeviceHealth(state: .init(health: .good, since: .distantPast), rules: Self.rules(window: 3))
        for index in 1...5 { _ = machine.handle(.taskEnded(task: "t\(index)", category: nil), at: Date()) }
        #expect(machine.state.recent.map(\.task) == ["t3", "t4", "t5"])
        #expect(machine.state.tasksSinceCheck == 5)
    }

    @Test func operatorsAreRefusedWhatIsAlreadySo() {
        let now = Date()
        var machine = DeviceHealth(state: .init(health: .good, since: now), rules: Self.rules(check: true))
        #expect(machine.handle(.online(reason: ""), at: now).rejection == "is good already: it takes work")
        #expect(machine.handle(.maintenance(reason: "x"), at: now).rejection == nil)
        let again = machine.handle(.maintenance(reason: "y"), at: now)
        #expect(again.rejection == "is in maintenance already")
        #expect(!again.write)
        #expect(machine.state.reason == "x")
        #expect(machine.handle(.retire(reason: "old"), at: now).change?.from == .maintenance)
        #expect(machine.handle(.retire(reason: "old"), at: now).rejection == "is retired already")
    }

    @Test func maintenanceCancelsTheCheckUnderWay() {
        let now = Date()
        var machine = DeviceHealth(state: .init(health: .bad, since: now), rules: Self.rules(check: true))
        #expect(machine.handle(.wantsWork(checkID: "c1"), at: now).startCheck == "c1")
        #expect(machine.state.check == "c1")
        #expect(machine.handle(.wantsWork(checkID: "c2"), at: now).startCheck == nil, "one check at a time")
        let maintenance = machine.handle(.maintenance(reason: "cable"), at: now)
        #expect(maintenance.cancelCheck == "c1")
        #expect(machine.state.check == nil)
        let late = machine.handle(.checkEnded(testrun: "c1", verdict: .error), at: now)
        #expect(!late.write, "the end of a check no longer under way is ignored")
    }

    @Test(arguments: [(1, 10.0), (2, 20.0), (3, 40.0), (4, 60.0), (10, 60.0)])
    func backoffDoublesUpToItsMaximum(failures: Int, seconds: Double) {
        var rules = HealthRules()
        rules.backoff = 10
        rules.backoffMax = 60
        #expect(rules.backoff(afterFailures: failures) == seconds)
    }

    @Test func onlyGoodAndUnknownDevicesServe() {
        #expect(Health.allCases.filter(\.serves) == [.unknown, .good])
    }
}
