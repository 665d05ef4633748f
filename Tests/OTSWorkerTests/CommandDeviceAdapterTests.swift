import Foundation
import OTSTestSupport
import Testing

@testable import OTSWorker

@Suite struct CommandDeviceAdapterTests {
    let folder: TemporaryDirectory

    init() throws {
        folder = try TemporaryDirectory()
    }

    func adapter(_ values: [String: String] = [:], _ configure: (inout DeviceCommands) throws -> Void) rethrows
        -> CommandDeviceAdapter
    {
        var commands = DeviceCommands()
        try configure(&commands)
        return CommandDeviceAdapter(commands: commands, values: values, scratchDirectory: folder.path)
    }

    /// `/bin/sh -c script sh words...`: the words become `$1`, `$2`, ...
    static func shell(_ script: String, _ words: String...) throws -> CommandTemplate {
        try CommandTemplate(["/bin/sh", "-c", script, "sh"] + words)
    }

    @Test func aCommandThatExitsZeroSucceeds() async throws {
        let adapter = try adapter { $0.flash = try Self.shell("exit 0", "{image}") }

        #expect(try await adapter.flash(image: "/cache/image.bin", options: [], try: 1) == .ok)
    }

    @Test func noCommandsMeanNothingToDo() async throws {
        let adapter = adapter { _ in }

        #expect(try await adapter.flash(image: "/cache/image.bin", options: ["--wipe"], try: 1) == .ok)
        #expect(try await adapter.boot(try: 1) == .ok)
    }

    @Test func withoutAnImageTheFlashCommandDoesNotRun() async throws {
        let marker = folder.file("flashed")
        let adapter = try adapter(["marker": marker]) { $0.flash = try Self.shell(#"touch "$1""#, "{marker}") }

        #expect(try await adapter.flash(image: nil, options: [], try: 1) == .ok)
        #expect(!FileManager.default.fileExists(atPath: marker))
        #expect(try await adapter.flash(image: "/cache/image.bin", options: [], try: 1) == .ok)
        #expect(FileManager.default.fileExists(atPath: marker))
    }

    @Test func aFailingCommandGivesItsExitCodeAndOutput() async throws {
        let adapter = try adapter { $0.flash = try Self.shell("echo 'no device on usb1' >&2; exit 3", "{image}") }

        let outcome = try await adapter.flash(image: "/cache/image.bin", options: [], try: 1)

        #expect(outcome == .failed("flash command exited with 3: no device on usb1"))
    }

    @Test func eachValueStaysOneArgument() async throws {
        let out = folder.file("arguments")
        let adapter = try adapter(["out": out]) {
            $0.flash = try Self.shell(#"out=$1; shift; printf '%s\n' "$#" "$@" > "$out""#, "{out}", "{image}", "--try={try}")
        }

        let outcome = try await adapter.flash(image: "/cache/my image (1).bin", options: ["--wipe", "user data"], try: 2)

        #expect(outcome == .ok)
        #expect(try folder.contents("arguments") == "4\n/cache/my image (1).bin\n--try=2\n--wipe\nuser data\n")
    }

    @Test func aCommandPastItsTimeoutFails() async throws {
        let adapter = try adapter {
            $0.flash = try Self.shell("sleep 30")
            $0.flashTimeout = 0.5
        }

        let outcome = try await adapter.flash(image: "/cache/image.bin", options: [], try: 1)

        #expect(!outcome.succeeded)
        #expect(outcome.message?.contains("flash command timed out") == true)
    }

    @Test func theTimeoutMessageGivesTheTimeout() async throws {
        let adapter = try adapter {
            $0.flash = try Self.shell("sleep 30")
            $0.flashTimeout = 0.5
        }

        let outcome = try await adapter.flash(image: "/cache/image.bin", options: [], try: 1)

        #expect(outcome == .failed("flash command timed out after 0.5 s"))
    }

    @Test func bootIsReadyOnceTheReadyCommandSucceeds() async throws {
        let marker = folder.file("device-up")
        let adapter = try adapter(["marker": marker]) {
            $0.boot = try Self.shell("exit 0")
            $0.ready = try Self.shell(#"test -e "$1""#, "{marker}")
        }
        try folder.write("device-up", "")

        #expect(try await adapter.boot(try: 1) == .ok)
    }

    @Test func theReadyCommandIsAskedAgainUntilItSucceeds() async throws {
        let marker = folder.file("asked")
        let adapter = try adapter(["marker": marker]) {
            // Fails the first time (leaving the marker), succeeds the next.
            $0.ready = try Self.shell(#"test -e "$1" && exit 0; touch "$1"; exit 1"#, "{marker}")
            $0.readyTimeout = 60
        }

        #expect(try await adapter.boot(try: 1) == .ok)
        #expect(folder.exists("asked"))
    }

    @Test func aDeviceThatNeverAnswersFails() async throws {
        let adapter = try adapter {
            $0.ready = try Self.shell("exit 1")
            $0.readyTimeout = 0.5
        }

        let outcome = try await adapter.boot(try: 1)

        #expect(!outcome.succeeded)
        #expect(outcome.message?.hasPrefix("the device did not answer within") == true)
    }

    @Test func aFailedBootIsNotAskedIfReady() async throws {
        let marker = folder.file("asked")
        let adapter = try adapter(["marker": marker]) {
            $0.boot = try Self.shell("echo 'usb reset failed'; exit 1")
            $0.ready = try Self.shell(#"touch "$1""#, "{marker}")
        }

        let outcome = try await adapter.boot(try: 1)

        #expect(outcome == .failed("boot command exited with 1: usb reset failed"))
        #expect(!folder.exists("asked"))
    }

    @Test func aPlaceholderWithoutAValueIsAnErrorNamingIt() async throws {
        let adapter = try adapter(["device": "n9"]) {
            $0.flash = try CommandTemplate(["flasher", "--serial", "{serial}", "{image}"])
            $0.boot = try CommandTemplate(["rebooter", "{address}"])
        }

        let flash = await #expect(throws: WorkerError.self) { try await adapter.flash(image: "/i.bin", options: [], try: 1) }
        let boot = await #expect(throws: WorkerError.self) { try await adapter.boot(try: 1) }

        #expect(flash?.code == .configuration)
        #expect(flash?.message.contains("uses {serial}, which has no value here") == true)
        #expect(boot?.code == .configuration)
        #expect(boot?.message.contains("uses {address}, which has no value here") == true)
    }
}
