import Foundation
import Logging
import OTSCore
import OTSStore
import OTSTestSupport
import Testing

@testable import OTSMonitor

/// The values the dashboard's pages are drawn from, worked out over a real
/// store with the clock given.
@Suite struct DashboardPagesTests {
    static var logger: Logger { TestStore.logger }

    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func withPages(_ body: (DashboardPages) async throws -> Void) async throws {
        try await TestStore.with { store in
            try await store.transaction { tx in
                for (host, name, group, state, age) in [
                    ("rack-b", "b1", "phones", "free", 5.0), ("rack-a", "a2", "phones", "busy", 1),
                    ("rack-a", "a1", "tablets", "offline", 600),
                ] {
                    try await tx.upsertWorker(
                        WorkerRecord(
                            host: host, instanceName: name, version: "1.2", deviceGroup: group, state: state,
                            lastHeartbeat: now.addingTimeInterval(-age), registeredAt: now.addingTimeInterval(-3600), pid: 42))
                }
            }
            try await body(DashboardPages(store: store, consumer: "monitor"))
        }
    }

    @Test func theOverviewCountsTheWorkersAndListsThemInOrder() async throws {
        try await withPages { pages in
            let overview = try await pages.overview(window: "1h", deviceGroup: nil, now: now)
            #expect(overview.workers.map(\.id) == ["rack-a/a1", "rack-a/a2", "rack-b/b1"], "by host, then instance")
            #expect(overview.hasWorkers)
            #expect(overview.workersOnline == 2)
            #expect(overview.workersBusy == 1)
            #expect(overview.workersOffline == 1)
            #expect(overview.workers.map(\.lastHeartbeat) == ["10 min 0 s ago", "1 s ago", "5 s ago"])
            #expect(overview.workers.first?.hostLink == "/workers/rack-a")
            #expect(overview.workers.first?.device == "tablets")
            #expect(overview.workers.first?.pid == "42")
            #expect(overview.nothingActive)
            #expect(overview.running == nil && overview.queued == nil && overview.recent == nil, "empty tables are not drawn")
            #expect(overview.generated == "2027-01-15 08:00:00 UTC")
            #expect(overview.backlog == 0)
            #expect(!overview.lagging)
        }
    }

    @Test func theWindowAndGroupChosenAreSelected() async throws {
        try await withPages { pages in
            let overview = try await pages.overview(window: "1h", deviceGroup: nil, now: now)
            #expect(overview.windows.filter(\.selected).map(\.value) == ["1h"])
            #expect(overview.windowLabel == "last hour")
            #expect(overview.groups.first?.label == "all device groups")
            #expect(overview.groups.filter(\.selected).map(\.value) == [""])

            let tablets = try await pages.overview(window: "90m", deviceGroup: "tablets", now: now)
            #expect(tablets.windowLabel == "last 90m", "a window of its own is named as given")
            #expect(tablets.windows.allSatisfy { !$0.selected })
            #expect(tablets.groups.filter(\.selected).map(\.value) == ["tablets"])
            #expect(tablets.workers.map(\.id) == ["rack-a/a1"], "only the group's workers")
            #expect(tablets.workersOnline == 0)
            #expect(tablets.groupName == "tablets")
        }
    }

    @Test func pagesOfWhatIsNotKnownAreNil() async throws {
        try await withPages { pages in
            #expect(try await pages.testrun(id: "no-such-testrun", now: now) == nil)
            #expect(try await pages.worker(host: "no-such-host", now: now) == nil)
            let rack = try #require(try await pages.worker(host: "rack-a", now: now))
            #expect(Set(rack.instances.map(\.instance)) == ["a1", "a2"])
            #expect(rack.host == "rack-a")
        }
    }
}
