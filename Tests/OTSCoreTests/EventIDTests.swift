import Foundation
import OTSCore
import Testing

@Suite struct EventIDTests {
    @Test func anIDIsAVersionSevenUUIDThatStartsWithItsMillisecond() throws {
        let date = Date(timeIntervalSince1970: 1_765_155_600.123)
        let id = MonitorEvent.newID(at: date)
        let uuid = try #require(UUID(uuidString: id))
        #expect(id == id.lowercased())
        let bytes = withUnsafeBytes(of: uuid.uuid) { Array($0) }
        #expect(bytes[6] >> 4 == 7, "version")
        #expect(bytes[8] >> 6 == 0b10, "variant")
        let millis = bytes[0..<6].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        #expect(millis == 1_765_155_600_123)
        #expect(MonitorEvent(type: .caseFinished, sender: MonitorEvent.Sender(host: "h", instance: "i")).problems.isEmpty)
    }

    @Test func idsOfLaterMillisecondsSortAfterAndIDsDiffer() {
        let start = Date(timeIntervalSince1970: 1_765_155_600)
        let ids = (0..<2000).map { MonitorEvent.newID(at: start.addingTimeInterval(Double($0 / 10) / 1000)) }
        #expect(Set(ids).count == ids.count)
        // Ten ids a millisecond: each millisecond's sort before the next's.
        for index in stride(from: 10, to: ids.count, by: 10) {
            #expect(ids[index - 10..<index].allSatisfy { $0 < ids[index] })
        }
    }
}
