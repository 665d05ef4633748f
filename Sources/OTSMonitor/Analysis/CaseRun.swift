import Foundation
import OTSCore

/// One run of a case on a device group, as the flaky and cause rules see
/// it: which testrun, instance and image, and the result.
struct CaseRun: Sendable, Hashable {
    /// The case result's id in the store.
    var id: Int64
    var testrunID: String
    /// `host/instance`.
    var worker: String
    var image: String?
    var imageChecksum: String?
    /// PASS, FAIL or N/A.
    var result: String
    var at: Date
    /// The kind and summary of the likely cause last judged (failures).
    var cause: String?

    init(
        id: Int64, testrunID: String, worker: String, image: String? = nil, imageChecksum: String? = nil, result: String, at: Date,
        cause: String? = nil
    ) {
        self.id = id
        self.testrunID = testrunID
        self.worker = worker
        self.image = image
        self.imageChecksum = imageChecksum
        self.result = result
        self.at = at
        self.cause = cause
    }

    /// What makes two runs' images the same: the checksum when the request
    /// gave one, else the URL ("" when neither: runs without an image
    /// count as one image).
    var imageKey: String { imageChecksum ?? image ?? "" }

    /// The image as people read it: its URL, or its checksum's start.
    var imageLabel: String { image ?? imageChecksum.map { "sha256:" + $0.prefix(12) } ?? "no image" }

    var passed: Bool { result == "PASS" }
    var failed: Bool { result == "FAIL" }

    /// As evidence names it.
    var reference: RunReference {
        RunReference(testrunID: testrunID, worker: worker, result: result, image: image, recordedAt: at)
    }

    /// Oldest first; the store's order breaks ties.
    static func chronological(_ a: CaseRun, _ b: CaseRun) -> Bool {
        (a.at, a.id) < (b.at, b.id)
    }
}

extension CaseRun {
    /// Runs as the case states keep them: a line per run, tab-separated
    /// fields (id, testrun, worker, image, checksum, result, milliseconds,
    /// cause). Faster to read and write than JSON, which matters when an
    /// upload of thousands of cases updates as many states.
    static func encode(_ runs: [CaseRun]) -> String {
        runs.map { run in
            [
                String(run.id), run.testrunID, run.worker, run.image ?? "", run.imageChecksum ?? "", run.result,
                String(Int64(saturating: run.at.timeIntervalSince1970 * 1000)), run.cause ?? "",
            ].map(Self.field).joined(separator: "\t")
        }.joined(separator: "\n")
    }

    static func decode(_ text: String) -> [CaseRun] {
        var runs: [CaseRun] = []
        for line in text.utf8.split(separator: UInt8(ascii: "\n")) {
            let fields = line.split(separator: UInt8(ascii: "\t"), omittingEmptySubsequences: false).map {
                String(decoding: $0, as: UTF8.self)
            }
            guard fields.count == 8, let id = Int64(fields[0]), let millis = Int64(fields[6]) else { continue }
            runs.append(
                CaseRun(
                    id: id, testrunID: fields[1], worker: fields[2], image: fields[3].isEmpty ? nil : fields[3],
                    imageChecksum: fields[4].isEmpty ? nil : fields[4], result: fields[5],
                    at: Date(timeIntervalSince1970: Double(millis) / 1000), cause: fields[7].isEmpty ? nil : fields[7]))
        }
        return runs
    }

    /// A field without the separators (tab, newline, carriage return).
    private static func field(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 == 9 || $0 == 10 || $0 == 13 }) else { return text }
        return String(decoding: text.utf8.map { $0 == 9 || $0 == 10 || $0 == 13 ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
    }
}
