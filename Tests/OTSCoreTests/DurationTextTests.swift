import OTSCore
import Testing

@Suite struct DurationTextTests {
    @Test(
        arguments: [
            (0.5, false, "0.50 s"), (9.994, false, "9.99 s"), (0.5, true, "0 s"), (12.7, false, "12 s"), (59.9, true, "59 s"),
            (60, false, "1 min 0 s"), (200, false, "3 min 20 s"), (3599, false, "59 min 59 s"), (3600, false, "1 h 0 min"),
            (7500, false, "2 h 5 min"), (86_400, false, "1 d 0 h"), (3 * 86_400 + 4 * 3600 + 59, false, "3 d 4 h"),
        ] as [(Double, Bool, String)])
    func readsAsPeopleWriteIt(seconds: Double, coarse: Bool, expected: String) {
        #expect(DurationText.seconds(seconds, coarse: coarse) == expected)
    }

    @Test func nothingOrNotANumberIsADash() {
        #expect(DurationText.seconds(nil) == "-")
        #expect(DurationText.seconds(.nan) == "-")
        #expect(DurationText.seconds(.infinity) == "-")
    }

    @Test func aHugeValueDoesNotTrap() {
        #expect(DurationText.seconds(1e300).hasSuffix(" h"))
    }
}

@Suite struct DurationMillisecondsTests {
    @Test(
        arguments: [
            (Duration.zero, Int64(0)), (.milliseconds(1500), 1500), (.microseconds(1999), 1), (.microseconds(-1999), -1),
            (.seconds(86_400 * 365), 31_536_000_000),
        ] as [(Duration, Int64)])
    func wholeMillisecondsTowardZero(duration: Duration, expected: Int64) {
        #expect(duration.milliseconds == expected)
    }

    @Test func secondsAreTheStandardLibrarysDivision() {
        #expect(Duration.milliseconds(1500) / .seconds(1) == 1.5)
    }
}
