import Foundation
import OTSCore

/// Testruns and tasks as the API shows them, from what the store holds:
/// the server answers with these, and the monitor's dashboard draws them.
extension TestrunView {
    /// `withTasks` adds the tasks and the plan.
    public init(_ record: TestrunRecord, tasks: [TaskRecord], withTasks: Bool) throws {
        let request = try JSONCoding.decoder().decode(TestrunRequest.self, from: Data(record.request.utf8))
        let taskViews = tasks.map(TaskView.init)
        let ended = tasks.filter(\.state.isEnded)
        self.init(
            id: record.id,
            state: record.state,
            verdict: record.verdict.flatMap(Verdict.init(rawValue:)),
            error: Failure(category: record.errorCategory, message: record.errorMessage),
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
            plan: withTasks ? record.plan.flatMap { try? JSONCoding.decoder().decode(PlanRecord.self, from: Data($0.utf8)) } : nil,
            healthCheck: record.healthCheck
        )
    }

}

extension TestrunView.TaskView {
    public init(_ task: TaskRecord) {
        let work = try? JSONCoding.decoder().decode(TaskWork.self, from: Data(task.work.utf8))
        let packages = work?.packages.map(\.name) ?? []
        self.init(
            id: task.id,
            sequence: task.sequence,
            state: task.state,
            phase: task.state == .claimed ? task.phase : nil,
            packages: packages,
            packagesDone: task.state == .finished ? packages.count : min(task.packagesDone, packages.count),
            attempts: task.attempts,
            worker: task.owner,
            flashTries: task.flashTries,
            bootTries: task.bootTries,
            verdict: task.verdict.flatMap(Verdict.init(rawValue:)),
            error: TestrunView.Failure(category: task.errorCategory, message: task.errorMessage),
            enqueuedAt: task.enqueuedAt,
            startedAt: task.startedAt,
            finishedAt: task.finishedAt,
            work: work
        )
    }

}

extension TestrunView.Failure {
    /// Nil without a known category.
    init?(category: String?, message: String?) {
        guard let category = category.flatMap(ErrorCategory.init(rawValue:)) else { return nil }
        self.init(category: category, message: message ?? "")
    }
}
