import ArgumentParser
import Foundation
import OTSClient
import OTSCore

/// Where the CLI finds the server.
struct ClientOptions: ParsableArguments {
    @Option(help: "The OTS server's URL (environment: OTS_SERVER; default http://127.0.0.1:8310).")
    var server: String?

    var client: OTSClient {
        let url = server ?? ProcessInfo.processInfo.environment["OTS_SERVER"].flatMap { $0.isEmpty ? nil : $0 } ?? "http://127.0.0.1:8310"
        return OTSClient(baseURL: url)
    }
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
