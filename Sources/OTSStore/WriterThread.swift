import NIOPosix

/// The one thread SQLite's write transactions run on, statements and the
/// code between them alike.
///
/// A statement of SQLiteNIO runs on its connection's thread pool and
/// resumes the waiting task on the task's executor: two threads woken per
/// statement when the task runs on Swift's shared pool. A write
/// transaction of a claim or a submit is a dozen short statements, so
/// those wake-ups were most of its time. Here the writers' pool has one
/// thread and the transaction's task prefers to run on that same thread
/// (it is also this task executor): a statement is queued behind the code
/// that asked for it and the code resumes behind the statement, without
/// waking anything. Write transactions take turns anyway (one writer per
/// database), so one thread costs them nothing. One per opened SQLite
/// database, stopped when it closes.
final class WriterThread: TaskExecutor, @unchecked Sendable {
    // @unchecked: NIOThreadPool is thread-safe (its queue is behind a
    // lock); it is not marked Sendable on every platform's NIO.
    let pool: NIOThreadPool

    init() {
        pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        // After the database closed (its pool stopped), NIO runs the item
        // at once on the caller's thread, marked cancelled: the job runs
        // anyway, so no task is ever left suspended.
        pool.submit { _ in job.runSynchronously(on: executor) }
    }
}
