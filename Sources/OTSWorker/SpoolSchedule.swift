/// Which spooled messages to send next. Each message belongs to one or more
/// lanes (the task it tells of); a lane's messages go one at a time, in the
/// order they were spooled, so that a task's events reach the server before
/// its results and its results before its finish. Different lanes go side
/// by side, up to a number of sends at once, and a lane's event messages
/// that may go are merged into one batch. A batch never mixes lanes: the
/// server then locks one task and one testrun for it, always in that
/// order, and on PostgreSQL two batches cannot deadlock by locking two
/// testruns in opposite orders.
struct SpoolSchedule: Sendable, Hashable {
    /// A message waiting in the spool, as the schedule sees it.
    struct Entry: Sendable, Hashable {
        var name: String
        var lanes: Set<String>
        /// How many events the message holds; nil when it holds none.
        var events: Int?
        /// The worker instance and the task whose report it is (results,
        /// files and finish): the instance keeps that task's lease while
        /// the report waits.
        var worker: String?
        var task: String?

        init(name: String, lanes: Set<String>, events: Int? = nil, worker: String? = nil, task: String? = nil) {
            self.name = name
            self.lanes = lanes
            self.events = events
            self.worker = worker
            self.task = task
        }
    }

    /// Most sends at once.
    var slots: Int
    /// Most events in one batch.
    var batchLimit: Int

    /// The sends to start: each a list of message names sent as one request
    /// (several only for a batch of events). `entries` are oldest first;
    /// `busy` are the lanes of sends on their way, of which `sending` are
    /// already.
    func next(_ entries: [Entry], busy: Set<String>, sending: Int) -> [[String]] {
        var sends: [[String]] = []
        var free = max(0, slots - sending)
        // Lanes that an earlier message still waiting (or on its way) holds.
        var blocked = busy
        // The batches of events being built, by their lanes, and all their lanes.
        var batches: [Set<String>: (send: Int, events: Int)] = [:]
        var batchLanes: Set<String> = []
        for entry in entries {
            if let events = entry.events, let batch = batches[entry.lanes], batch.events + events <= batchLimit,
                entry.lanes.isDisjoint(with: blocked)
            {
                sends[batch.send].append(entry.name)
                batches[entry.lanes]?.events += events
                continue
            }
            guard free > 0, entry.lanes.isDisjoint(with: blocked), entry.lanes.isDisjoint(with: batchLanes) else {
                blocked.formUnion(entry.lanes)
                continue
            }
            sends.append([entry.name])
            free -= 1
            if let events = entry.events {
                batches[entry.lanes] = (sends.count - 1, events)
                batchLanes.formUnion(entry.lanes)
            } else {
                blocked.formUnion(entry.lanes)
            }
        }
        return sends
    }
}
