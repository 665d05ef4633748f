import Foundation
import OTSCore
import OTSStore

extension Farm {
    /// A testrun as the API shows it.
    static func view(_ record: TestrunRecord, tasks: [TaskRecord], withTasks: Bool) throws -> TestrunView {
        let request = try JSONCoding.decoder().decode(TestrunRequest.self, from: Data(record.request.utf8))
        let taskViews = tasks.map(taskView)
        let ended = tasks.filter { $0.state != .queued && $0.state != .claimed }
        return TestrunView(
            id: record.id,
            state: record.state,
            verdict: record.verdict.flatMap(Verdict.init(rawValue:)),
            error: failure(record.errorCategory, record.errorMessage),
            request: request,
            createdAt: record.createdAt,
            startedAt: record.startedAt,
            finishedAt: record.finishedAt,
            progress: TestrunView.Progress(
                tasksDone: ended.count,
                tasksTotal: tasks.count,
                packagesDone: taskViews.reduce(0) { $0 + $1.packagesDone },
                packagesTotal: taskViews.reduce(0) { $0 + $1.packages.count }
            ),
            tasks: withTasks ? taskViews : nil,
            plan: withTasks ? record.plan.flatMap { try? JSONCoding.decoder().decode(PlanRecord.self, from: Data($0.utf8)) } : nil
        )
    }

    static func taskView(_ task: TaskRecord) -> TestrunView.TaskView {
        let work = try? JSONCoding.decoder().decode(TaskWork.self, from: Data(task.work.utf8))
        let packages = work?.packages.map(\.name) ?? []
        return TestrunView.TaskView(
            id: task.id,
            sequence: task.sequence,
            state: task.state.rawValue,
            phase: task.state == .claimed ? task.phase : nil,
            packages: packages,
            packagesDone: task.state == .finished ? packages.count : min(task.packagesDone, packages.count),
            attempts: task.attempts,
            worker: task.owner,
            flashTries: task.flashTries,
            bootTries: task.bootTries,
            verdict: task.verdict.flatMap(Verdict.init(rawValue:)),
            error: failure(task.errorCategory, task.errorMessage),
            enqueuedAt: task.enqueuedAt,
            startedAt: task.startedAt,
            finishedAt: task.finishedAt,
            work: work
        )
    }

    static func failure(_ category: String?, _ message: String?) -> TestrunView.Failure? {
        guard let category = category.flatMap(ErrorCategory.init(rawValue:)) else { return nil }
        return TestrunView.Failure(category: category, message: message ?? "")
    }
}
