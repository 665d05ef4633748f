import Foundation
import OTSTestSupport
import Subprocess
import SystemPackage
import Testing

/// A real headless Chromium (Debian's `chromium`), driven over the DevTools
/// protocol by `scripts/cdp.py`. Pages keep running between calls, so a
/// test sees what a person watching them would.
final class Browser: @unchecked Sendable {
    // The process is only started and stopped by the test that owns it.
    let process: ChildProcess
    let port: Int
    let profile: Workspace

    static let executable: String? = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    /// Whether the browser tests run: Chromium is here, or the test script
    /// requires it (then a missing one fails them).
    static var wanted: Bool {
        executable != nil || ProcessInfo.processInfo.environment["OTS_REQUIRE_BROWSER"] == "1"
    }

    /// Starts Chromium, or returns nil (with a note) when it is missing and
    /// not required; `./scripts/test.sh` installs it and requires it.
    static func launch() async throws -> Browser? {
        guard let executable else {
            if ProcessInfo.processInfo.environment["OTS_REQUIRE_BROWSER"] == "1" {
                Issue.record("chromium is missing; ./scripts/test.sh installs it")
            } else {
                print("note: chromium not found, the dashboard's browser tests are skipped")
            }
            return nil
        }
        // A cold first start (font caches, a D-Bus that is not there) has
        // been seen to take over 30 s on a loaded CI machine: wait up to
        // 90 s, and start once more if the first never opens its port.
        var failures: [String] = []
        for _ in 1...2 {
            let profile = try Workspace()
            let process = try ChildProcess(
                Browser.arguments(profile: profile.path), executable: executable,
                environment: ["DBUS_SESSION_BUS_ADDRESS": "disabled:"], logs: profile.file("chromium"))
            // Not `eventually`: a start that fails is tried once more, not an issue.
            let deadline = Date().addingTimeInterval(90)
            while Date() < deadline {
                if let text = try? profile.read("DevToolsActivePort"),
                    let port = text.split(separator: "\n").first.flatMap({ Int($0) })
                {
                    return Browser(process: process, port: port, profile: profile)
                }
                if !process.process.isRunning { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            process.stop()
            failures.append(String(process.stderr.suffix(2000)))
        }
        throw TestFarm.FarmError("chromium did not start (twice): \(failures.joined(separator: "\n---\n"))")
    }

    /// Headless, and off everything a browser does for a person at start:
    /// the keyring and D-Bus (which can block start-up for many seconds
    /// where there is no session bus), sync, updates, background throttling.
    static func arguments(profile: String) -> [String] {
        [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--no-default-browser-check", "--disable-extensions", "--password-store=basic", "--use-mock-keychain",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-breakpad",
            "--disable-default-apps", "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
            "--disable-backgrounding-occluded-windows", "--metrics-recording-only", "--remote-debugging-port=0",
            "--user-data-dir=" + profile, "--window-size=1366,900", "about:blank",
        ]
    }

    private init(process: ChildProcess, port: Int, profile: Workspace) {
        self.process = process
        self.port = port
        self.profile = profile
    }

    func stop() { process.stop() }

    /// Opens a page; returns its target id.
    func open(_ url: String) async throws -> String {
        try await cdp(["open", url]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func navigate(_ page: String, to url: String) async throws {
        _ = try await cdp(["navigate", page, url])
    }

    /// The value of a JavaScript expression in the page, as JSON.
    func evaluate(_ page: String, _ expression: String) async throws -> String {
        try await cdp(["eval", page, expression]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func string(_ page: String, _ expression: String) async throws -> String? {
        try JSONDecoder().decode(String?.self, from: Data(try await evaluate(page, expression).utf8))
    }

    func strings(_ page: String, _ expression: String) async throws -> [String] {
        try JSONDecoder().decode([String].self, from: Data(try await evaluate(page, expression).utf8))
    }

    /// Waits until the expression is true in the page; records an issue
    /// (with what the page shows) and throws when it never is.
    func waitUntil(_ page: String, _ expression: String, timeout: Double = 30, _ what: String) async throws {
        var shown: String?
        try await eventually(what, within: .seconds(timeout), every: .milliseconds(250), detail: "the page shows:\n\(shown ?? "-")") {
            if (try? await evaluate(page, "Boolean(\(expression))")) == "true" { return true }
            shown = (try? await string(page, "document.getElementById('live')?.innerText.slice(0, 3000)")) ?? nil
            return false
        }
    }

    func screenshot(_ page: String, to file: String, width: Int = 1366) async throws {
        _ = try await cdp(["screenshot", page, file, String(width)])
    }

    private func cdp(_ arguments: [String]) async throws -> String {
        let result = try await Subprocess.run(
            .name("python3"),
            arguments: Arguments([OTSBinary.repositoryRoot + "/scripts/cdp.py", String(port)] + arguments),
            output: .string(limit: 4 * 1024 * 1024),
            error: .string(limit: 1024 * 1024)
        )
        guard result.terminationStatus.isSuccess else {
            throw TestFarm.FarmError("cdp.py \(arguments.prefix(2).joined(separator: " ")): \(result.standardError ?? "")")
        }
        return result.standardOutput ?? ""
    }
}
