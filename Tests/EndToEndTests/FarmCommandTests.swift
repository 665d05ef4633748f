import Foundation
import OTSCore
import Testing

/// `ots submit`, `status`, `list`, `cancel` and `results` as people and
/// scripts use them, against a real farm.
@Suite(.serialized, .timeLimit(.minutes(10))) struct FarmCommandTests {
    @Test func submitWatchExitsWithTheVerdict() async throws {
        try await TestFarm.with(engine: .sqlite, workers: [TestFarm.WorkerSpec(name: "w1"), TestFarm.WorkerSpec(name: "w2")]) { farm in
            let server = farm.cli
            let pass = try await OTSBinary.run(
                ["submit"] + server + ["--devicegroup", "e2e", "--package", "shell-basics", "--package", "process-checks", "--watch"],
                in: farm.workspace.path)
            #expect(pass.status == 0, "\(pass.stderr)")
            #expect(pass.stdout.contains("finished PASS"), "\(pass.stdout)")
            #expect(pass.stdout.contains("packages 2/2"))
            #expect(pass.stderr.contains("submitted"))
            #expect(pass.stderr.contains("] finished  tasks 2/2  packages 2/2"), "progress ends complete: \(pass.stderr)")

            let fail = try await OTSBinary.run(
                ["submit"] + server + ["--devicegroup", "e2e", "--package", "failing-case", "--watch"], in: farm.workspace.path)
            #expect(fail.status == 1, "\(fail.stderr)")
            #expect(fail.stdout.contains("finished FAIL"))

            let error = try await OTSBinary.run(
                ["submit"] + server + ["--devicegroup", "e2e", "--package", "not-installed", "--watch"], in: farm.workspace.path)
            #expect(error.status == 2, "\(error.stderr)")
            #expect(error.stdout.contains("ERROR"))
            #expect(error.stdout.contains("[user] package not-installed: no tests.xml"), "\(error.stdout)")
        }
    }

    @Test func requestFilesJSONOutputAndTheOtherCommands() async throws {
        try await TestFarm.with(engine: .sqlite, workers: [TestFarm.WorkerSpec(name: "w1")]) { farm in
            let server = farm.cli
            try farm.workspace.write(
                "request.toml",
                """
                sw_product = "demo-os"
                distribution_model = "single"
                requestor = "lab"

                [device]
                devicegroup = "e2e"

                [packages]
                device = ["shell-basics", "insignificant-failure"]
                """)
            let submitted = try await OTSBinary.run(
                ["submit"] + server + ["-f", "request.toml", "--request-id", "build-9", "--watch", "--json"], in: farm.workspace.path)
            #expect(submitted.status == 0, "\(submitted.stderr)")
            let view = try JSONCoding.decoder().decode(TestrunView.self, from: Data(submitted.stdout.utf8))
            #expect(view.verdict == .pass)
            #expect(view.request.swProduct == "demo-os")
            #expect(view.request.requestor == "lab")
            #expect(view.request.requestID == "build-9")
            #expect(view.tasks?.count == 1, "single: one task")

            let status = try await OTSBinary.run(["status"] + server + [view.id], in: farm.workspace.path)
            #expect(status.status == 0)
            #expect(status.stdout.contains("\(view.id)  finished PASS"))
            #expect(status.stdout.contains("  build request build-9 of demo-os\n"), "\(status.stdout)")
            #expect(status.stdout.contains("shell-basics, insignificant-failure  on e2e/w1"), "\(status.stdout)")

            let list = try await OTSBinary.run(["list"] + server + ["--state", "finished"], in: farm.workspace.path)
            #expect(list.stdout.split(separator: "\n").count == 1)
            #expect(list.stdout.hasPrefix(view.id))
            let none = try await OTSBinary.run(["list"] + server + ["--state", "queued"], in: farm.workspace.path)
            #expect(none.stdout.isEmpty)
            #expect(none.stderr.contains("no testruns"))

            let results = try await OTSBinary.run(["results"] + server + [view.id, "-o", "results.xml"], in: farm.workspace.path)
            #expect(results.status == 0, "\(results.stderr)")
            let problems = try await ResultsSchema.problems(in: farm.workspace.file("results.xml"))
            #expect(problems == nil, "\(problems ?? "")")
            let junit = try await OTSBinary.run(["results"] + server + [view.id, "--format", "junit"], in: farm.workspace.path)
            #expect(junit.stdout.contains("<testsuites name=\"\(view.id)\""))

            let cancel = try await OTSBinary.run(["cancel"] + server + [view.id], in: farm.workspace.path)
            #expect(cancel.status == 3)
            #expect(cancel.stderr.contains("has ended (finished); nothing to cancel"), "\(cancel.stderr)")

            let noGroup = try await OTSBinary.run(["submit"] + server + ["--package", "shell-basics"], in: farm.workspace.path)
            #expect(noGroup.status == 3)
            #expect(noGroup.stderr.contains("--devicegroup"))
            let refused = try await OTSBinary.run(
                ["submit"] + server + ["--devicegroup", "e2e", "--package", "../x"], in: farm.workspace.path)
            #expect(refused.status == 3)
            #expect(refused.stderr.contains("packages.device[0]"), "\(refused.stderr)")
        }
    }

    @Test func anUnreachableServerIsOneClearLine() async throws {
        let work = try Workspace()
        let result = try await OTSBinary.run(["status", "--server", "http://127.0.0.1:9", "some-id"], in: work.path)
        #expect(result.status == 3)
        #expect(result.stderr.hasPrefix("ots status: cannot reach the OTS server at http://127.0.0.1:9"), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1)
    }
}
