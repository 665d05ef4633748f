import OTSCore

/// What a model is given to plan.
public struct DistributionRequest: Sendable, Hashable {
    public var packages: [PackageRequest]
    public var device: DeviceProperties
    /// At most this many tasks (`max_worker_amount`).
    public var maxWorkerAmount: Int?
    /// Seconds the testrun should take (`target_execution_time`).
    public var targetExecutionTime: Int?

    public init(packages: [PackageRequest], device: DeviceProperties, maxWorkerAmount: Int? = nil, targetExecutionTime: Int? = nil) {
        self.packages = packages
        self.device = device
        self.maxWorkerAmount = maxWorkerAmount
        self.targetExecutionTime = targetExecutionTime
    }
}

/// A model's plan: the tasks, and what the model based it on (recorded with
/// the testrun).
public struct DistributionPlan: Sendable, Hashable {
    public var tasks: [TaskWork]
    public var notes: [String]
    /// What the plan was based on, when the model says more than notes.
    public var record: PlanRecord?

    public init(tasks: [TaskWork], notes: [String] = [], record: PlanRecord? = nil) {
        self.tasks = tasks
        self.notes = notes
        self.record = record
    }
}

/// Turns a testrun's packages into tasks. Models plug in by name (see
/// `DistributionModels`).
public protocol DistributionModel: Sendable {
    /// The name requests use (`distribution_model`).
    var name: String { get }
    func plan(_ request: DistributionRequest) async throws -> DistributionPlan
}

/// One task for all packages.
public struct SingleModel: DistributionModel {
    public init() {}

    public var name: String { "single" }

    public func plan(_ request: DistributionRequest) async throws -> DistributionPlan {
        DistributionPlan(
            tasks: [TaskWork(packages: request.packages.map { TaskWork.Package($0) })],
            notes: ["one task for \(request.packages.count) packages"]
        )
    }
}

/// One task per package.
public struct PerPackageModel: DistributionModel {
    public init() {}

    public var name: String { "perpackage" }

    public func plan(_ request: DistributionRequest) async throws -> DistributionPlan {
        DistributionPlan(
            tasks: request.packages.map { TaskWork(packages: [TaskWork.Package($0)]) },
            notes: ["one task per package (\(request.packages.count))"]
        )
    }
}

/// The models OTS knows, by name.
public struct DistributionModels: Sendable {
    private var models: [String: any DistributionModel]

    /// The built-in `single` and `perpackage` models.
    public static let builtIn = DistributionModels(models: [SingleModel(), PerPackageModel()])

    public init(models: [any DistributionModel]) {
        self.models = Dictionary(uniqueKeysWithValues: models.map { ($0.name, $0) })
    }

    /// The default when a request names none.
    public static let defaultName = "perpackage"

    public var names: [String] { models.keys.sorted() }

    public func model(named name: String) -> (any DistributionModel)? {
        models[name]
    }

    /// A copy that also knows `model` (replacing one of the same name).
    public func adding(_ model: any DistributionModel) -> DistributionModels {
        var copy = self
        copy.models[model.name] = model
        return copy
    }
}
