import Foundation
import Synchronization
import TestRunner

/// How one try of a device phase went.
public struct DeviceOutcome: Sendable, Hashable {
    public var succeeded: Bool
    /// Why it failed (the command's output, the simulated reason).
    public var message: String?

    public static let ok = DeviceOutcome(succeeded: true)
    public static func failed(_ message: String) -> DeviceOutcome { DeviceOutcome(succeeded: false, message: message) }
}

/// Drives one device: flashes an image onto it and boots it. Two real
/// kinds: commands from the configuration, and the simulated device.
public protocol DeviceAdapter: Sendable {
    var flashTries: Int { get }
    var bootTries: Int { get }
    /// Flash try `number` (from 1) with the image at `image` (nil: no image
    /// given, keep what is on the device).
    func flash(image: String?, options: [String], try number: Int) async throws -> DeviceOutcome
    /// Boot try `number`, returning once the device answers.
    func boot(try number: Int) async throws -> DeviceOutcome
    /// Whether the device is powered off after each task.
    var powersOff: Bool { get }
    /// Powers the device off at the end of a task.
    func powerOff() async throws -> DeviceOutcome
    /// The file the device's console writes to, if there is one.
    var consoleLog: String? { get }
}

extension DeviceAdapter {
    public var powersOff: Bool { false }
    public func powerOff() async throws -> DeviceOutcome { .ok }
    public var consoleLog: String? { nil }
}

/// The built-in simulated device: takes its configured time per try and
/// fails as its seed and settings say.
public final class SimulatedDeviceAdapter: DeviceAdapter {
    let device: SimulatedDevice
    private let behaviour: Mutex<SimulatedDevice.Behaviour>

    public init(_ device: SimulatedDevice) {
        self.device = device
        self.behaviour = Mutex(SimulatedDevice.Behaviour(device))
    }

    public var flashTries: Int { max(3, (device.flash.failingTries.max() ?? 0) + 1) }
    public var bootTries: Int { max(3, (device.boot.failingTries.max() ?? 0) + 1) }

    public func flash(image: String?, options: [String], try number: Int) async throws -> DeviceOutcome {
        try await Task.sleep(for: .milliseconds(Int64(device.flash.seconds * 1000)))
        let ok = behaviour.withLock { $0.flashSucceeds(try: number) }
        return ok ? .ok : .failed("simulated flash failure on try \(number)")
    }

    public func boot(try number: Int) async throws -> DeviceOutcome {
        try await Task.sleep(for: .milliseconds(Int64(device.boot.seconds * 1000)))
        let ok = behaviour.withLock { $0.bootSucceeds(try: number) }
        return ok ? .ok : .failed("simulated boot failure on try \(number)")
    }
}

/// A device driven by the commands of the configuration, each an argument
/// vector run without a shell, under its timeout.
public struct CommandDeviceAdapter: DeviceAdapter {
    let commands: DeviceCommands
    let values: [String: String]
    let runner: CommandRunner

    public init(commands: DeviceCommands, values: [String: String], scratchDirectory: String) {
        self.commands = commands
        self.values = values
        self.runner = CommandRunner(scratchDirectory: scratchDirectory)
    }

    public var flashTries: Int { commands.flashTries }
    public var bootTries: Int { commands.bootTries }

    public func flash(image: String?, options: [String], try number: Int) async throws -> DeviceOutcome {
        // Without an image the device keeps what it has: nothing to flash.
        guard let flash = commands.flash, let image else { return .ok }
        var values = self.values
        values["image"] = image
        values["try"] = String(number)
        var arguments = try flash.arguments(values)
        arguments += options
        return try await run(arguments, timeout: commands.flashTimeout, what: "flash")
    }

    public func boot(try number: Int) async throws -> DeviceOutcome {
        var values = self.values
        values["try"] = String(number)
        if let boot = commands.boot {
            let outcome = try await run(try boot.arguments(values), timeout: commands.bootTimeout, what: "boot")
            guard outcome.succeeded else { return outcome }
        }
        guard let ready = commands.ready else { return .ok }
        // Ask until the device answers, or the ready timeout ends.
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .milliseconds(Int64(commands.readyTimeout * 1000)))
        var last = DeviceOutcome.failed("the device did not answer")
        while clock.now < deadline {
            let remaining = clock.now.duration(to: deadline)
            last = try await run(
                try ready.arguments(values), timeout: min(remaining / .seconds(1) + 1, 60), what: "ready check")
            if last.succeeded { return .ok }
            try await Task.sleep(for: .seconds(1))
        }
        return .failed("the device did not answer within \(Self.seconds(commands.readyTimeout)) s: \(last.message ?? "")")
    }

    public var powersOff: Bool { commands.powerOff != nil }

    public var consoleLog: String? { try? commands.consoleLog?.arguments(values).first }

    public func powerOff() async throws -> DeviceOutcome {
        guard let powerOff = commands.powerOff else { return .ok }
        return try await run(try powerOff.arguments(values), timeout: commands.powerOffTimeout, what: "power-off")
    }

    /// Seconds as people write them: 600, 0.5.
    static func seconds(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(format: "%g", value)
    }

    private func run(_ arguments: [String], timeout: Double, what: String) async throws -> DeviceOutcome {
        let outcome = try await runner.run(arguments, timeout: .milliseconds(Int64(timeout * 1000)))
        defer { outcome.removeFiles() }
        if outcome.timedOut { return .failed("\(what) command timed out after \(Self.seconds(timeout)) s") }
        if outcome.termination.returnCode == 0 { return .ok }
        let output = (outcome.stderr.text + outcome.stdout.text).trimmingCharacters(in: .whitespacesAndNewlines).suffix(500)
        return .failed("\(what) command exited with \(outcome.termination.returnCode)\(output.isEmpty ? "" : ": \(output)")")
    }
}
