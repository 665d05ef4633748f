import Foundation
import Logging
import OTSCore
import OTSHTTP
import OTSStore
import TestDefinition

extension Farm {
    public enum ResultsFormat: String, Sendable {
        case xml, junit
    }

    /// A fetched file, as the API lists it.
    public struct FileEntry: Sendable, Hashable, Codable {
        public var task: String
        public var package: String
        public var name: String
        public var size: Int64
    }

    public struct FileList: Sendable, Hashable, Codable {
        public var files: [FileEntry]
    }

    /// All the testrun's results merged into one document.
    public func results(testrunID: String, format: ResultsFormat) async throws -> String {
        let records = try await store.read { tx in
            guard try await tx.testrun(id: testrunID) != nil else { throw DomainError(.notFound, "no testrun \(testrunID)") }
            return try await tx.results(testrunID: testrunID)
        }
        var parts: [TestResults] = []
        for record in records {
            do {
                parts.append(try ResultsParser().parse(Data(record.resultsXML.utf8), file: "results of \(record.package)"))
            } catch {
                logger.error("stored results of \(record.package) in task \(record.taskID) do not parse: \(error)")
            }
        }
        let merged = TestResults.merged(parts)
        switch format {
        case .xml: return ResultsWriter.xml(merged)
        case .junit: return JUnitWriter.xml(merged, name: testrunID)
        }
    }

    public func files(testrunID: String) async throws -> FileList {
        try await store.read { tx in
            guard try await tx.testrun(id: testrunID) != nil else { throw DomainError(.notFound, "no testrun \(testrunID)") }
            return FileList(
                files: try await tx.files(testrunID: testrunID).map {
                    FileEntry(task: $0.taskID, package: $0.package, name: $0.name, size: $0.size)
                })
        }
    }

    public func fileContent(testrunID: String, taskID: String, package: String, name: String) async throws -> [UInt8] {
        try await store.read { tx in
            guard let task = try await tx.task(id: taskID), task.testrunID == testrunID,
                let content = try await tx.fileContent(taskID: taskID, package: package, name: name)
            else {
                throw DomainError(.notFound, "testrun \(testrunID) has no file \(name) of \(package) in task \(taskID)")
            }
            return content
        }
    }
}
