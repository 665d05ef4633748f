import Distribution
import Foundation
import OTSCore
import OTSStore
import TestDefinition

extension Farm {
    /// The `history` model over this store: recorded runs of the device
    /// group (those that do not count marked), the task cost from the
    /// monitor's flash and boot durations, the workers online for the
    /// routing key, and how far the monitor is behind.
    static func historyModel(store: Store, configuration: ServerConfiguration) -> HistoryModel {
        HistoryModel { request in
            try await historyInputs(for: request, store: store, configuration: configuration, at: Date())
        }
    }

    /// How far back phase durations count for the task cost.
    static let costWindow: TimeInterval = 7 * 86_400

    static func historyInputs(for request: DistributionRequest, store: Store, configuration: ServerConfiguration, at now: Date)
        async throws -> HistoryModel.Inputs
    {
        let group = request.device.devicegroup
        let key = request.device.requestedRoutingKey
        let (runs, cost, workers) = try await store.read { tx in
            let runs = try await tx.historyRuns(deviceGroup: group, packages: request.packages.map(\.name))
            let cost = try await tx.taskCost(deviceGroup: group, since: now.addingTimeInterval(-costWindow))
            // Online: not counted offline, and alive by the liveness rule;
            // and taking work by its health.
            let liveness = configuration.liveness
            let health = Dictionary(
                try await tx.healthRecords().map { ($0.workerID, $0.state.health) }, uniquingKeysWith: { first, _ in first })
            let workers = try await tx.workers().filter { worker in
                worker.state != "offline" && liveness.isAlive(lastHeartbeat: worker.lastHeartbeat, at: now)
                    && (health[worker.id] ?? .unknown).serves
                    && DeviceProperties(devicegroup: worker.deviceGroup, devicename: worker.deviceName, deviceid: worker.deviceID)
                        .consumedRoutingKeys.contains(key)
            }
            return (runs, cost, workers.count)
        }
        // The monitor's cursor against the queue's head.
        let backlog = try? await store.backlog(consumer: "monitor").count

        var notes: [String] = []
        var structures: [PackageStructure] = []
        for package in request.packages {
            if let definition = definitionStructure(package) {
                structures.append(definition)
                continue
            }
            // The sets of the newest testrun that recorded sets of the package,
            // and whether its definition keeps it whole, as its newest run said.
            let sets = runs.filter { $0.record.package == package.name && $0.record.setName != nil }
            let whole = runs.first { $0.record.package == package.name && $0.record.setName == nil }?.record.keepWhole ?? false
            if let newest = sets.first?.record.testrunID {
                var names: [String] = []
                for run in sets where run.record.testrunID == newest && !names.contains(run.record.setName!) {
                    names.append(run.record.setName!)
                }
                structures.append(
                    PackageStructure(
                        package: package, sets: names.map { PackageStructure.TestSet(name: $0) }, setsAreComplete: false, whole: whole))
            } else {
                structures.append(PackageStructure(package: package, sets: nil))
                notes.append("\(package.name): its sets are not known (no set history); planned whole")
            }
        }
        let samples = runs.map { run in
            RunTimeSample(
                package: run.record.package, set: run.record.setName, seconds: run.record.duration / .seconds(1),
                counts: run.counts)
        }
        return HistoryModel.Inputs(
            packages: structures, samples: samples, taskCost: cost.map { $0 / .seconds(1) }, availableWorkers: workers,
            monitorBacklog: backlog, notes: notes)
    }

    /// The sets and case counts of a definition the server can read (sent
    /// with the request, or a `file://` URL on this machine), and whether
    /// it keeps the package whole (`<?ots keep-whole="true"?>`); nil
    /// otherwise.
    static func definitionStructure(_ package: PackageRequest) -> PackageStructure? {
        let definition: TestDefinition
        if let text = package.definition {
            guard let parsed = try? DefinitionParser(lenient: true).parse(Data(text.utf8), file: package.name) else { return nil }
            definition = parsed
        } else {
            guard package.location == .url, let url = URLComponents(string: package.name), url.scheme == "file",
                let data = FileManager.default.contents(atPath: url.path),
                let parsed = try? DefinitionParser(lenient: true).parse(data, file: url.path)
            else { return nil }
            definition = parsed
        }
        var sets: [PackageStructure.TestSet] = []
        for suite in definition.suites {
            for set in suite.sets {
                // Sets are chosen by name: one name in two suites is one set.
                if let index = sets.firstIndex(where: { $0.name == set.attributes.name }) {
                    sets[index].cases = (sets[index].cases ?? 0) + set.cases.count
                } else {
                    sets.append(PackageStructure.TestSet(name: set.attributes.name, cases: set.cases.count))
                }
            }
        }
        guard !sets.isEmpty else { return nil }
        return PackageStructure(package: package, sets: sets, setsAreComplete: true, whole: definition.keepWhole)
    }
}
