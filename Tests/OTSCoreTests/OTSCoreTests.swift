import Testing

@testable import OTSCore

@Suite struct VerdictTests {
    @Test(arguments: [
        (Verdict.pass, Verdict.pass, Verdict.pass),
        (.pass, .fail, .fail),
        (.fail, .pass, .fail),
        (.fail, .error, .error),
        (.error, .pass, .error),
    ])
    func errorWinsOverFailWinsOverPass(a: Verdict, b: Verdict, combined: Verdict) {
        #expect(a.combined(with: b) == combined)
    }
}

@Suite struct ErrorSignatureTests {
    @Test(arguments: [
        ("flash of /tmp/img-42.bin failed after 3 tries (rc=7)", "flash of <path> failed after <n> tries (rc=<n>)"),
        ("device 192.168.1.20:5555 lost", "device <address> lost"),
        ("task 3f2a9c1e-1b2c-4d5e-8f90-1234567890ab timed out", "task <id> timed out"),
        ("download https://images.example/v1.2/img.bin: 404", "download <url>: <n>"),
        ("checksum 9f86d081884c7d65 does not match", "checksum <hex> does not match"),
        ("bad pointer 0xdeadbeef", "bad pointer <hex>"),
        ("  many   spaces\tand\nlines ", "many spaces and lines"),
        ("worker img42 rebooted in 1.5 s", "worker img<n> rebooted in <n> s"),
        ("face bad cafe", "face bad cafe"),
    ])
    func normalisesVolatileParts(message: String, signature: String) {
        #expect(ErrorSignature(message).text == signature)
    }

    @Test func theSameFailureWordedWithOtherNumbersIsOneSignature() {
        #expect(
            ErrorSignature("boot of /dev/ttyUSB0 timed out after 120 s")
                == ErrorSignature("boot of /dev/ttyUSB3 timed out after 95 s")
        )
        #expect(ErrorSignature("boot failed") != ErrorSignature("flash failed"))
    }

    @Test func longMessagesAreCut() {
        let signature = ErrorSignature(String(repeating: "word ", count: 200))
        #expect(signature.text.count == ErrorSignature.maximumLength)
    }
}
