import ArgumentParser
import Foundation
import OTSClient
import OTSCore

/// `ots device`: the health of the farm's devices, and an operator's
/// commands on one.
struct DeviceHealthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "device",
        abstract: "Show the devices' health; put a device in maintenance, bring it online, retire it.",
        subcommands: [List.self, Maintenance.self, Online.self, Retire.self]
    )

    /// `ots device list`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List every worker instance's health: since when, why, and its last health check.")

        @OptionGroup var options: ClientOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let list: DeviceList
            do {
                list = try await options.client.devices()
            } catch {
                throw fail("device list", error)
            }
            if json { return try printJSON(list) }
            if list.devices.isEmpty { printError("no worker instances") }
            var table = Table(["instance", "health", "since", "state", "device", "last health check", "why"])
            for device in list.devices {
                var check = device.lastCheck.map { "\($0.verdict.rawValue) \($0.at.formatted(.iso8601)) \($0.testrunID)" } ?? "-"
                if let running = device.healthCheck { check = "running \(running)" }
                table = table.row([
                    device.workerID, device.health.rawValue, device.since.formatted(.iso8601), device.state,
                    device.device.requestedRoutingKey, check, device.reason,
                ])
            }
            table.print()
        }
    }

    /// `ots device maintenance INSTANCE --reason TEXT`.
    struct Maintenance: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Put a device in maintenance: it finishes the task it holds, then takes nothing until brought online.")

        @OptionGroup var options: ClientOptions
        @Argument(help: "The worker instance (host/instance).") var instance: String
        @Option(help: "Why (required).") var reason: String

        func run() async throws {
            try await DeviceHealthCommand.send(options, instance, .maintenance, reason: reason)
        }
    }

    /// `ots device online INSTANCE`.
    struct Online: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Bring a device back: it runs its group's health check first (when there is one), then takes work.")

        @OptionGroup var options: ClientOptions
        @Argument(help: "The worker instance (host/instance).") var instance: String
        @Option(help: "Why.") var reason: String?

        func run() async throws {
            try await DeviceHealthCommand.send(options, instance, .online, reason: reason)
        }
    }

    /// `ots device retire INSTANCE`.
    struct Retire: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Retire a device: it takes no more work.")

        @OptionGroup var options: ClientOptions
        @Argument(help: "The worker instance (host/instance).") var instance: String
        @Option(help: "Why.") var reason: String?

        func run() async throws {
            try await DeviceHealthCommand.send(options, instance, .retire, reason: reason)
        }
    }

    /// Sends the command; prints the device's health after it.
    static func send(_ options: ClientOptions, _ instance: String, _ kind: DeviceCommand.Kind, reason: String?) async throws {
        let view: DeviceHealthView
        do {
            view = try await options.client.device(instance, kind, reason: reason)
        } catch {
            throw fail("device \(kind.rawValue)", error)
        }
        print("\(view.workerID)  \(view.health)  \(view.reason)")
    }
}
