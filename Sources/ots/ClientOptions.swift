import ArgumentParser
import Foundation
import OTSClient
import OTSCore

/// Where the CLI finds the server, and how it proves who it is.
struct ClientOptions: ParsableArguments {
    @Option(help: "The OTS server's URL (environment: OTS_SERVER; default http://127.0.0.1:8310).")
    var server: String?

    @OptionGroup var credentials: CredentialOptions

    var client: OTSClient {
        get throws {
            try credentials.client(baseURL: server ?? environment("OTS_SERVER") ?? "http://127.0.0.1:8310")
        }
    }
}

/// The API token and the certificates to trust, shared by the commands
/// that talk to a server or a monitor.
struct CredentialOptions: ParsableArguments {
    @Option(help: "An API token (environment: OTS_TOKEN; made with `ots token create`).")
    var token: String?

    @Option(help: "A PEM file of certificate authorities to trust for https (environment: OTS_CA_FILE).")
    var caFile: String?

    func client(baseURL: String) throws -> OTSClient {
        OTSClient(
            baseURL: baseURL, token: token ?? environment("OTS_TOKEN"),
            http: try OTSClient.http(trusting: caFile ?? environment("OTS_CA_FILE")))
    }
}

/// A variable of the environment, nil when unset or empty.
func environment(_ name: String) -> String? {
    ConfigurationEnvironment.process[name]
}

/// Exit codes of the farm commands.
enum FarmExit {
    static let pass: Int32 = 0
    static let fail: Int32 = 1
    static let error: Int32 = 2
    /// The command could not do its job: bad input, or the server refused
    /// or could not be reached.
    static let unusable: Int32 = 3

    static func code(for view: TestrunView) -> Int32 {
        switch view.verdict {
        case .pass: pass
        case .fail: fail
        case .error, nil: error
        }
    }
}

/// Prints a client error as one line and exits 3.
func fail(_ command: String, _ error: any Error) -> ExitCode {
    printError("ots \(command): \(error)")
    return ExitCode(FarmExit.unusable)
}

func printJSON(_ value: some Encodable) throws {
    print(String(decoding: try JSONCoding.encoder(pretty: true).encode(value), as: UTF8.self))
}

extension TestrunView {
    /// One line: id, state, verdict and progress.
    var summaryLine: String {
        let verdictText = verdict.map { " \($0.rawValue)" } ?? ""
        let errorText = error.map { " [\($0.category)] \($0.message)" } ?? ""
        return
            "\(id)  \(state)\(verdictText)  tasks \(progress.tasksDone)/\(progress.tasksTotal)  packages \(progress.packagesDone)/\(progress.packagesTotal)  \(request.device.requestedRoutingKey)\(errorText)"
    }
}
