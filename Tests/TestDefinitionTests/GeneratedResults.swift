import Foundation
import PropertyBased

@testable import TestDefinition

/// Results built at random, as any run could produce them, for the
/// round trip ResultsWriter → ResultsParser.
enum GeneratedResults {
    static let text = GeneratedDefinition.text

    static let number = Dice.generator { dice -> Double in
        switch dice.int(0...5) {
        case 0:
            dice.one(of: [
                0, -0.0, 1.5, -2.25, 1e15, -1e15, 123_456_789_012_345_678, 1e300, -1e-300, .greatestFiniteMagnitude,
                .leastNonzeroMagnitude, -.greatestFiniteMagnitude,
            ])
        case 1: Double(dice.int(-1_000_000...1_000_000))
        default: Double.random(in: -1e6...1e6, using: &dice.rng)
        }
    }

    /// A time to the second, as the format keeps it.
    static let date = Dice.generator { dice in
        Date(timeIntervalSince1970: Double(dice.int(946_684_800...4_102_444_800)))
    }

    static func attributes(_ name: String, _ dice: Dice) -> GeneralAttributes {
        GeneralAttributes(
            name: name,
            description: dice.maybe { dice.draw(text) },
            requirement: dice.maybe { dice.draw(text) },
            timeout: dice.maybe { dice.int(1...Int.max) },
            type: dice.maybe { dice.draw(text) },
            level: dice.maybe { dice.draw(text) },
            domain: dice.maybe { dice.draw(text) },
            feature: dice.maybe { dice.draw(text) },
            component: dice.maybe { dice.draw(text) },
            manual: dice.maybe { dice.bool() },
            insignificant: dice.maybe { dice.bool() },
            hwid: dice.maybe { dice.draw(text) }
        )
    }

    static func step(_ dice: Dice, rebootSteps: Bool) -> StepResult {
        var step = StepResult(
            command: dice.draw(text),
            result: dice.one(of: TestOutcome.allCases),
            manual: dice.maybe { dice.bool() },
            control: dice.maybe { dice.draw(text) },
            failureInfo: dice.maybe { dice.draw(text) },
            expectedResult: dice.int(Int.min...Int.max),
            returnCode: dice.int(-255...255),
            start: dice.draw(date),
            end: dice.draw(date),
            stdout: dice.draw(text),
            stderr: dice.draw(text)
        )
        if rebootSteps, dice.int(0...3) == 0 {
            step.postRebootSteps = dice.some(1...2) { _ in self.step(dice, rebootSteps: false) }
        }
        return step
    }

    static func testCase(_ name: String, _ dice: Dice) -> CaseResult {
        var result = CaseResult(
            attributes: attributes(name, dice),
            result: dice.one(of: TestOutcome.allCases),
            subfeature: dice.maybe { dice.draw(text) },
            comment: dice.maybe { dice.draw(text) },
            failureInfo: dice.maybe { dice.draw(text) },
            bugzillaID: dice.maybe { dice.int(1...Int.max) },
            tcID: dice.maybe { dice.draw(text) },
            state: dice.maybe { dice.draw(text) },
            description: dice.maybe { dice.draw(text) }
        )
        result.steps = dice.some(0...3) { _ in step(dice, rebootSteps: true) }
        result.events = dice.some(0...2) { _ in
            EventResult(
                kind: dice.one(of: TestEvent.Kind.allCases),
                resource: dice.draw(text),
                timeout: dice.int(1...100_000),
                params: dice.some(0...2) { _ in
                    EventParam(type: dice.one(of: EventParam.ValueType.allCases), name: dice.draw(text), value: dice.draw(text))
                },
                result: dice.one(of: TestOutcome.allCases)
            )
        }
        result.measurements = dice.some(0...2) { _ in
            TestMeasurement(
                name: dice.draw(text), value: dice.draw(number), unit: dice.draw(text), target: dice.maybe { dice.draw(number) },
                failure: dice.maybe { dice.draw(number) })
        }
        result.series = dice.some(0...2) { _ in
            MeasurementSeries(
                name: dice.draw(text), unit: dice.draw(text), group: dice.maybe { dice.draw(text) },
                target: dice.maybe { dice.draw(number) }, failure: dice.maybe { dice.draw(number) },
                interval: dice.maybe { dice.int(1...Int.max) }, intervalUnit: dice.maybe { dice.draw(text) },
                points: dice.some(0...3) { _ in
                    MeasurementSeries.Point(value: dice.draw(number), timestamp: dice.maybe { dice.draw(date) })
                })
        }
        return result
    }

    static let generator = Dice.generator { dice -> TestResults in
        var results = TestResults(
            version: dice.draw(text), environment: dice.draw(text), hwproduct: dice.draw(text), hwbuild: dice.draw(text),
            hwiddetect: dice.maybe { dice.draw(text) }, description: dice.maybe { dice.draw(text) })
        results.suites = dice.some(0...2) { suiteIndex in
            var suite = SuiteResult(
                attributes: attributes(dice.draw(text) + "#\(suiteIndex)", dice), description: dice.maybe { dice.draw(text) })
            suite.sets = dice.some(0...2) { setIndex in
                var set = SetResult(
                    attributes: attributes(dice.draw(text) + "#\(setIndex)", dice), environment: dice.maybe { dice.draw(text) },
                    description: dice.maybe { dice.draw(text) })
                set.preSteps = dice.some(0...2) { _ in step(dice, rebootSteps: false) }
                set.preStepsTimeout = set.preSteps.isEmpty ? nil : dice.maybe { dice.int(1...Int.max) }
                set.cases = dice.some(0...3) { testCase(dice.draw(text) + "#\($0)", dice) }
                set.postSteps = dice.some(0...2) { _ in step(dice, rebootSteps: false) }
                set.postStepsTimeout = set.postSteps.isEmpty ? nil : dice.maybe { dice.int(1...Int.max) }
                // A fetched file's path is read without surrounding white space.
                set.get = dice.some(0...2) { _ in
                    FetchFile(path: dice.draw(text).trimmingXMLWhitespace(), deleteAfter: dice.bool())
                }
                return set
            }
            return suite
        }
        return results
    }

    /// Every step's start and end as written, and the results without them
    /// (a time is written to the second in local time; comparing the text
    /// keeps the check true in any time zone).
    static func separatingTimes(_ results: TestResults) -> (times: [String], rest: TestResults) {
        var times: [String] = []
        var copy = results
        func strip(_ steps: inout [StepResult]) {
            for index in steps.indices {
                times += [ResultsWriter.timestamp(steps[index].start), ResultsWriter.timestamp(steps[index].end)]
                steps[index].start = Date(timeIntervalSince1970: 0)
                steps[index].end = Date(timeIntervalSince1970: 0)
                strip(&steps[index].postRebootSteps)
            }
        }
        for s in copy.suites.indices {
            for t in copy.suites[s].sets.indices {
                strip(&copy.suites[s].sets[t].preSteps)
                for c in copy.suites[s].sets[t].cases.indices { strip(&copy.suites[s].sets[t].cases[c].steps) }
                strip(&copy.suites[s].sets[t].postSteps)
            }
        }
        return (times, copy)
    }
}
