import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import OTSClient
import OTSCore
import OTSStore
import OTSTestSupport
import SQLKit
import Subprocess
import SystemPackage
import Testing

/// Who gets in: tokens and their scopes on the server, the monitor and the
/// dashboard; tokens kept only as hashes; request limits; TLS end to end.
@Suite(.serialized, .timeLimit(.minutes(10))) struct SecurityTests {
    /// One HTTP exchange, with or without a token or a cookie.
    struct Answer {
        var status: Int
        var headers: HTTPHeaders
        var body: String
    }

    /// Redirects are answers to check, not to follow.
    static let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))

    static func call(
        _ method: HTTPMethod, _ url: String, token: String? = nil, cookie: String? = nil, body: String? = nil,
        contentType: String = "application/json"
    ) async throws -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let cookie { request.headers.add(name: "Cookie", value: cookie) }
        if let body {
            request.headers.add(name: "Content-Type", value: contentType)
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await client.execute(request, timeout: .seconds(30))
        let data = try await response.body.collect(upTo: 16 * 1024 * 1024)
        return Answer(status: Int(response.status.code), headers: response.headers, body: String(buffer: data))
    }

    /// A farm whose read API and dashboard are closed too.
    static let closed = ["anonymous_read": "false"]
    static let submit = #"{"device": {"devicegroup": "e2e"}, "packages": {"device": ["shell-basics"]}}"#

    @Test func eachScopeDoesWhatItMayAndNothingMore() async throws {
        try await TestFarm.with(engine: .sqlite, serverSettings: Self.closed, workers: [TestFarm.WorkerSpec(name: "w1")]) { farm in
            let folder = farm.workspace.path
            let reader = try await TestFarm.createToken(database: farm.databaseURL, scope: "read", name: "reader", in: folder)
            let submitter = try await TestFarm.createToken(database: farm.databaseURL, scope: "submit", name: "ci-bot", in: folder)
            let api = farm.baseURL + "/api/v1"

            // Nobody: only health and the API description.
            #expect(try await Self.call(.GET, api + "/health").status == 200)
            #expect(try await Self.call(.GET, api + "/openapi.json").status == 200)
            let anonymous = try await Self.call(.GET, api + "/testruns")
            #expect(anonymous.status == 401)
            #expect(anonymous.body.contains("needs a token with the read scope"), "\(anonymous.body)")
            #expect(try await Self.call(.GET, api + "/testruns", token: "ots_000000000000_" + String(repeating: "0", count: 64)).status == 401)
            #expect(try await Self.call(.GET, api + "/testruns", token: "not-a-token").status == 401)

            // Read: reads, and is refused the rest with the scope named.
            #expect(try await Self.call(.GET, api + "/testruns", token: reader).status == 200)
            let refused = try await Self.call(.POST, api + "/testruns", token: reader, body: Self.submit)
            #expect(refused.status == 403)
            #expect(refused.body.contains("has the read scope; this request needs submit"), "\(refused.body)")
            #expect(try await farm.client.testruns(limit: 10).testruns.isEmpty, "a refused submission stores nothing")

            // Submit: submits and cancels, may not manage tokens.
            let created = try await Self.call(.POST, api + "/testruns", token: submitter, body: Self.submit)
            #expect(created.status == 201)
            #expect(try await Self.call(.GET, api + "/tokens", token: submitter).status == 403)
            #expect(try await Self.call(.POST, api + "/tokens", token: submitter, body: #"{"name": "x", "scope": "admin"}"#).status == 403)

            // A worker's token runs its own tasks only: it reads and submits nothing.
            let enrolled = try await Self.call(
                .POST, api + "/workers", token: TestFarm.enrollmentSecret,
                body: #"{"host": "probe", "instance": "p1", "version": "0.1.0", "pid": 1, "device": {"devicegroup": "probe"}}"#)
            #expect(enrolled.status == 201)
            let workerToken = try #require(try JSONCoding.decoder().decode(WorkerRegistered.self, from: Data(enrolled.body.utf8)).token)
            #expect(try await Self.call(.GET, api + "/testruns", token: workerToken).status == 403)
            #expect(try await Self.call(.POST, api + "/testruns", token: workerToken, body: Self.submit).status == 403)
            let other = try await Self.call(
                .POST, api + "/workers/heartbeat", token: workerToken, body: #"{"worker_id": "e2e/w1", "state": "free"}"#)
            #expect(other.status == 403)
            #expect(other.body.contains("the token of worker probe/p1 cannot act for e2e/w1"), "\(other.body)")
            // Enrolling again replaces the token.
            let again = try await Self.call(
                .POST, api + "/workers", token: TestFarm.enrollmentSecret,
                body: #"{"host": "probe", "instance": "p1", "version": "0.1.0", "pid": 1, "device": {"devicegroup": "probe"}}"#)
            let second = try #require(try JSONCoding.decoder().decode(WorkerRegistered.self, from: Data(again.body.utf8)).token)
            #expect(second != workerToken)
            try await eventually("the replaced worker token is refused", within: .seconds(20), every: .milliseconds(250)) {
                try await Self.call(
                    .POST, api + "/workers/heartbeat", token: workerToken, body: #"{"worker_id": "probe/p1", "state": "free"}"#
                )
                .status == 401
            }
            #expect(
                try await Self.call(.POST, api + "/workers/heartbeat", token: second, body: #"{"worker_id": "probe/p1", "state": "free"}"#)
                    .status == 200)

            // The real worker enrolled and ran the testrun with its token.
            let id = try JSONCoding.decoder().decode(TestrunView.self, from: Data(created.body.utf8)).id
            #expect(try await farm.waitForEnd(id).verdict == .pass)

            // Revoked with the CLI: refused within the servers' 5 s cache.
            let list = try await OTSBinary.run(["token", "list", "--database", farm.databaseURL, "--json"], in: folder)
            let infos = try JSONCoding.decoder().decode([TokenInfo].self, from: Data(list.stdout.utf8))
            let readerInfo = try #require(infos.first { $0.name == "reader" })
            #expect(readerInfo.scope == .read)
            #expect(infos.contains { $0.scope == .worker && $0.workerID == "e2e/w1" }, "the enrolled instance's token is listed")
            let revoke = try await OTSBinary.run(["token", "revoke", "--database", farm.databaseURL, readerInfo.id], in: folder)
            #expect(revoke.status == 0, "\(revoke.stderr)")
            try await eventually("the revoked token is refused", within: .seconds(20), every: .milliseconds(250)) {
                try await Self.call(.GET, api + "/testruns", token: reader).status == 401
            }
            let twice = try await OTSBinary.run(["token", "revoke", "--database", farm.databaseURL, readerInfo.id], in: folder)
            #expect(twice.status == 1)
            #expect(twice.stderr.contains("no token \(readerInfo.id) that is not revoked already"), "\(twice.stderr)")
            let bad = try await OTSBinary.run(
                ["token", "create", "--database", farm.databaseURL, "--name", "x", "--scope", "worker"], in: folder)
            #expect(bad.status != 0)
            #expect(bad.stderr.contains("--scope: must be read, submit, submit-host or admin"), "\(bad.stderr)")

            // The CLI without a token says what is missing, in one line.
            let status = try await OTSBinary.run(["list", "--server", farm.baseURL], in: folder)
            #expect(status.status == 3)
            #expect(status.stderr.contains("needs a token with the read scope"), "\(status.stderr)")
        }
    }

    @Test func tokensAreStoredOnlyAsHashes() async throws {
        try await TestFarm.with(engine: .sqlite, workers: []) { farm in
            let (_, record) = try #require(Self.parse(farm.token))
            var logger = Logger(label: "ots.e2e")
            logger.logLevel = .warning
            let store = try await Store.open(try DatabaseURL(parsing: farm.databaseURL), logger: logger, migrate: false)
            let rows = try await store.transaction { tx in
                try await tx.db.raw("SELECT id, name, scope, hash FROM api_tokens").all().map { row in
                    [
                        try row.decode(column: "id", as: String.self), try row.decode(column: "name", as: String.self),
                        try row.decode(column: "scope", as: String.self), try row.decode(column: "hash", as: String.self),
                    ]
                }
            }
            await store.close()
            let stored = try #require(rows.first { $0[0] == record.id })
            #expect(stored[2] == "admin")
            let digest = SHA256.hash(data: Data(record.secret.utf8)).map { String(format: "%02x", $0) }.joined()
            #expect(stored[3] == digest, "the store holds the secret's SHA-256")
            let database = try Data(contentsOf: URL(fileURLWithPath: farm.workspace.file("ots.sqlite")))
            #expect(database.range(of: Data(record.secret.utf8)) == nil, "the secret itself is nowhere in the database")
        }
    }

    static func parse(_ token: String) -> (String, (id: String, secret: String))? {
        let parts = token.split(separator: "_")
        guard parts.count == 3 else { return nil }
        return (token, (String(parts[1]), String(parts[2])))
    }

    @Test func theMonitorAndItsDashboardNeedAReadToken() async throws {
        try await TestFarm.with(engine: .sqlite, serverSettings: Self.closed, workers: [TestFarm.WorkerSpec(name: "w1")]) { farm in
            let (_, monitor) = try await farm.startMonitor(settings: "anonymous_read = false\n")
            let reader = try await TestFarm.createToken(database: farm.databaseURL, scope: "read", name: "wall", in: farm.workspace.path)
            #expect(try await Self.call(.GET, monitor + "/api/v1/health").status == 200)
            for path in ["/api/v1/stats", "/api/v1/events", "/api/v1/workers", "/metrics", "/api/v1/events/stream?after=now"] {
                #expect(try await Self.call(.GET, monitor + path).status == 401, "\(path) without a token")
            }
            #expect(try await Self.call(.GET, monitor + "/api/v1/stats", token: reader).status == 200)
            #expect(try await Self.call(.GET, monitor + "/metrics", token: reader).status == 200)
            let stats = try await OTSBinary.run(["stats", "--monitor", monitor, "--token", reader], in: farm.workspace.path)
            #expect(stats.status == 0, "\(stats.stderr)")

            // The dashboard: a sign-in page, then a cookie for reading only.
            let page = try await Self.call(.GET, monitor + "/")
            #expect(page.status == 401)
            #expect(page.body.contains("<form method=\"post\" action=\"/login\">"), "\(page.body.prefix(500))")
            let wrong = try await Self.call(
                .POST, monitor + "/login", body: "token=ots_nope", contentType: "application/x-www-form-urlencoded")
            #expect(wrong.status == 401)
            #expect(wrong.body.contains("That token is unknown, revoked, or cannot read."))
            let signedIn = try await Self.call(
                .POST, monitor + "/login", body: "token=\(reader)", contentType: "application/x-www-form-urlencoded")
            #expect(signedIn.status == 303, "\(signedIn.body)")
            let cookie = try #require(signedIn.headers.first(name: "Set-Cookie"))
            #expect(cookie.hasPrefix("ots_token=\(reader)"))
            #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "\(cookie)")
            let overview = try await Self.call(.GET, monitor + "/", cookie: "ots_token=\(reader)")
            #expect(overview.status == 200)
            #expect(overview.body.contains("e2e/w1") || overview.body.contains("w1"), "the overview lists the worker")
            // A cookie is for reading: the server's changes need the header.
            #expect(try await Self.call(.POST, farm.baseURL + "/api/v1/testruns", cookie: "ots_token=\(farm.token)", body: Self.submit).status == 401)
        }
    }

    @Test(.enabled(if: Browser.wanted, "chromium is not installed; ./scripts/test.sh installs it"))
    func aBrowserSignsInAndFollowsTheFarmLive() async throws {
        let browser = try #require(try await Browser.launch())
        defer { browser.stop() }
        try await TestFarm.with(engine: .sqlite, serverSettings: Self.closed, workers: [TestFarm.WorkerSpec(name: "w1")]) { farm in
            let (_, monitor) = try await farm.startMonitor(settings: "anonymous_read = false\n")
            let reader = try await TestFarm.createToken(database: farm.databaseURL, scope: "read", name: "wall", in: farm.workspace.path)
            let page = try await browser.open(monitor + "/")
            try await browser.waitUntil(page, "document.querySelector('form[action=\"/login\"]')", "the sign-in form")
            _ = try await browser.evaluate(
                page, "document.getElementById('token').value = '\(reader)'; document.querySelector('form').submit(); true")
            try await browser.waitUntil(page, "document.querySelector('h1')?.innerText.includes('Farm overview')", "the overview after signing in")
            try await browser.waitUntil(page, "document.getElementById('live-status')?.dataset.state === 'up'", "the live stream")
            let submitted = try await farm.client.submit(request(device: ["shell-basics"]))
            try await browser.waitUntil(
                page, "document.getElementById('live')?.innerText.includes('\(submitted.id.prefix(8))')", "the new testrun, live")
        }
    }

    @Test func bodiesOverTheirLimitsAreRefusedWithTheLimitNamed() async throws {
        let settings = ["max_request_bytes": "65536", "max_results_bytes": "65536", "max_file_bytes": "2048"]
        try await TestFarm.with(engine: .sqlite, serverSettings: settings, workers: []) { farm in
            let api = farm.baseURL + "/api/v1"
            let padded = #"{"device": {"devicegroup": "e2e"}, "packages": {"device": ["shell-basics"]}, "requestor": ""#
                + String(repeating: "x", count: 70_000) + #""}"#
            let big = try await Self.call(.POST, api + "/testruns", token: farm.token, body: padded)
            #expect(big.status == 413)
            #expect(big.body.contains("over the server's limit of 65536 bytes (max_request_bytes)"), "\(big.body)")
            let long = #"{"device": {"devicegroup": "e2e"}, "packages": {"device": ["shell-basics"]}, "requestor": ""#
                + String(repeating: "x", count: 5000) + #""}"#
            let tooLong = try await Self.call(.POST, api + "/testruns", token: farm.token, body: long)
            #expect(tooLong.status == 400)
            #expect(tooLong.body.contains("requestor: at most"), "\(tooLong.body)")
            let many = (0..<501).map { "\"p\($0)\"" }.joined(separator: ",")
            let tooMany = try await Self.call(
                .POST, api + "/testruns", token: farm.token, body: #"{"device": {"devicegroup": "e2e"}, "packages": {"device": [\#(many)]}}"#)
            #expect(tooMany.status == 400)
            #expect(tooMany.body.contains("packages: at most"), "\(tooMany.body)")
            let escape = try await Self.call(
                .POST, api + "/testruns", token: farm.token, body: #"{"device": {"devicegroup": "e2e"}, "packages": {"device": ["../etc"]}}"#)
            #expect(escape.status == 400)
            #expect(try await farm.client.testruns(limit: 10).testruns.isEmpty, "nothing refused was stored")

            // A worker's uploads have limits of their own.
            let enrolled = try await Self.call(
                .POST, api + "/workers", token: TestFarm.enrollmentSecret,
                body: #"{"host": "probe", "instance": "p1", "version": "0.1.0", "pid": 1, "device": {"devicegroup": "e2e"}}"#)
            let token = try #require(try JSONCoding.decoder().decode(WorkerRegistered.self, from: Data(enrolled.body.utf8)).token)
            let submitted = try await farm.client.submit(request(device: ["shell-basics"]))
            let claim = try await Self.call(.POST, api + "/workers/claim", token: token, body: #"{"worker_id": "probe/p1", "wait_seconds": 5}"#)
            let task = try JSONCoding.decoder().decode(TaskAssignment.self, from: Data(claim.body.utf8))
            #expect(task.testrunID == submitted.id)
            let query = "?worker=probe/p1&package=shell-basics"
            let file = try await Self.call(
                .PUT, api + "/tasks/\(task.taskID)/files" + query + "&name=log.txt", token: token, body: String(repeating: "y", count: 4096),
                contentType: "application/octet-stream")
            #expect(file.status == 413)
            #expect(file.body.contains("the file is over the server's limit of 2048 bytes (max_file_bytes)"), "\(file.body)")
            let results = try await Self.call(
                .PUT, api + "/tasks/\(task.taskID)/results" + query, token: token, body: String(repeating: "<a/>", count: 20_000),
                contentType: "application/xml")
            #expect(results.status == 413)
            #expect(results.body.contains("(max_results_bytes)"), "\(results.body)")
            let outside = try await Self.call(
                .PUT, api + "/tasks/\(task.taskID)/files" + query + "&name=../x", token: token, body: "y", contentType: "application/octet-stream")
            #expect(outside.status == 400, "a file name cannot leave its folder")
        }
    }

    @Test func aFarmOverTLSRunsATestrunAndRefusesUntrustedClients() async throws {
        let work = try Workspace()
        try await Self.makeCertificates(in: work)
        let database = "sqlite://" + work.file("ots.sqlite")
        let serverConfig = try work.write(
            "server.toml",
            """
            enrollment_secret = "\(TestFarm.enrollmentSecret)"
            tls_certificate = "\(work.file("server.pem"))"
            tls_key = "\(work.file("server.key"))"
            heartbeat_seconds = 0.3
            claim_wait = 2
            """)
        let (server, port) = try await TestFarm.startServer(config: serverConfig, database: database, port: 0, logs: work.file("server"))
        defer { server.stop() }
        #expect(server.stdout.contains("listening on https://127.0.0.1:\(port)"), "\(server.stdout)")
        let url = "https://127.0.0.1:\(port)"
        let monitorConfig = try work.write(
            "monitor.toml",
            """
            tls_certificate = "\(work.file("server.pem"))"
            tls_key = "\(work.file("server.key"))"
            """)
        let monitor = try ChildProcess(["monitor", "--config", monitorConfig, "--database", database, "--port", "0"], logs: work.file("monitor"))
        defer { monitor.stop() }
        let packages = OTSBinary.repositoryRoot + "/Tests/EndToEndTests/Fixtures/packages"
        let workerConfig = try work.write(
            "worker.toml",
            """
            server = "\(url)"
            host = "tls"
            enrollment_secret = "\(TestFarm.enrollmentSecret)"
            ca_file = "ca.pem"
            spool_dir = "spool"
            work_dir = "work"
            claim_wait = 2

            [[instance]]
            name = "w1"
            devicegroup = "e2e"
            adapter = "simulated"
            packages_dir = "\(packages)"

            [instance.simulated]
            flash_seconds = 0.05
            boot_seconds = 0.05
            """)
        let worker = try ChildProcess(["worker", "--config", workerConfig], logs: work.file("worker"))
        defer { worker.stop() }
        let token = try await TestFarm.createToken(database: database, scope: "submit", in: work.path)

        let submitted = try await OTSBinary.run(
            ["submit", "--server", url, "--token", token, "--ca-file", work.file("ca.pem"), "--devicegroup", "e2e", "--package",
             "shell-basics", "--watch"], in: work.path)
        #expect(submitted.status == 0, "\(submitted.stderr)\nworker:\n\(worker.stderr.suffix(3000))")
        #expect(submitted.stdout.contains("finished PASS"), "\(submitted.stdout)")

        let untrusted = try await OTSBinary.run(["list", "--server", url, "--token", token], in: work.path)
        #expect(untrusted.status == 3, "a server whose certificate is not trusted is refused")
        #expect(untrusted.stderr.split(separator: "\n").count == 1, "one line: \(untrusted.stderr)")
        let plain = try await OTSBinary.run(["list", "--server", "http://127.0.0.1:\(port)", "--token", token], in: work.path)
        #expect(plain.status == 3, "plain HTTP to the TLS port gets nowhere")

        let monitorAt = try await eventually(
            "the monitor says it listens over https", every: .milliseconds(50), detail: "\(monitor.stdout) \(monitor.stderr)"
        ) {
            monitor.stdout.range(of: #"https://127\.0\.0\.1:\d+"#, options: .regularExpression).map { String(monitor.stdout[$0]) }
        }
        let stats = try await OTSBinary.run(
            ["stats", "--monitor", monitorAt, "--token", token, "--ca-file", work.file("ca.pem")], in: work.path)
        #expect(stats.status == 0, "\(stats.stderr)")
    }

    /// A private authority and a certificate for 127.0.0.1 it signed.
    static func makeCertificates(in work: Workspace) async throws {
        let ext = try work.write("san.cnf", "subjectAltName = IP:127.0.0.1\n")
        let commands: [[String]] = [
            ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
             "-days", "2", "-subj", "/CN=OTS test authority"],
            ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=127.0.0.1"],
            ["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem", "-days", "2",
             "-extfile", ext],
        ]
        for arguments in commands {
            let result = try await Subprocess.run(
                .name("openssl"), arguments: Arguments(arguments), workingDirectory: FilePath(work.path),
                output: .string(limit: 1 << 20), error: .string(limit: 1 << 20))
            #expect(result.terminationStatus.isSuccess, "openssl \(arguments.joined(separator: " ")): \(result.standardError)")
        }
    }
}
