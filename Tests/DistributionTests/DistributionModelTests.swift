import OTSCore
import Testing

@testable import Distribution

@Suite struct DistributionModelTests {
    let request = DistributionRequest(
        packages: [PackageRequest(name: "a"), PackageRequest(name: "b"), PackageRequest(name: "c-host", location: .host)],
        device: DeviceProperties(devicegroup: "phones")
    )

    @Test func singlePutsEveryPackageInOneTask() async throws {
        let plan = try await SingleModel().plan(request)
        #expect(plan.tasks.count == 1)
        #expect(plan.tasks[0].packages.map(\.name) == ["a", "b", "c-host"])
        #expect(plan.tasks[0].packages[2].location == .host)
        #expect(plan.tasks[0].packages.allSatisfy { $0.sets == nil })
    }

    @Test func perPackageMakesATaskOfEach() async throws {
        let plan = try await PerPackageModel().plan(request)
        #expect(plan.tasks.map { $0.packages.map(\.name) } == [["a"], ["b"], ["c-host"]])
    }

    @Test func modelsAreFoundByName() {
        let models = DistributionModels.builtIn
        #expect(models.names == ["perpackage", "single"])
        #expect(models.model(named: "single")?.name == "single")
        #expect(models.model(named: "history") == nil)
        #expect(models.model(named: DistributionModels.defaultName) != nil)
    }

    @Test func moreModelsPlugInByName() async throws {
        struct Reversed: DistributionModel {
            var name: String { "reversed" }
            func plan(_ request: DistributionRequest) async throws -> DistributionPlan {
                DistributionPlan(
                    tasks: request.packages.reversed().map { TaskWork(packages: [.init(name: $0.name, location: $0.location)]) })
            }
        }
        let models = DistributionModels.builtIn.adding(Reversed())
        let plan = try await #require(models.model(named: "reversed")).plan(request)
        #expect(plan.tasks.first?.packages.first?.name == "c-host")
    }
}
