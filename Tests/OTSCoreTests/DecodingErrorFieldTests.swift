import Foundation
import OTSCore
import Testing

@Suite struct DecodingErrorFieldTests {
    struct Item: Decodable {
        var name: String
        var count: Int?
    }

    struct Body: Decodable {
        var items: [Item]
        var flag: Bool?
    }

    func error(_ json: String) throws -> DecodingError {
        do {
            _ = try JSONDecoder().decode(Body.self, from: Data(json.utf8))
        } catch let error as DecodingError {
            return error
        }
        Issue.record("\(json) decoded")
        throw CancellationError()
    }

    @Test(arguments: [
        (#"{"items": [{"name": "a"}, {}]}"#, "items[1].name", "required"),
        (#"{}"#, "items", "required"),
        (#"{"items": [{"name": null}]}"#, "items[0].name", "must be a string, not null"),
        (#"{"items": [{"name": "a", "count": "three"}]}"#, "items[0].count", "must be an integer"),
        (#"{"items": [], "flag": 1}"#, "flag", "must be true or false"),
        (#"{"items": {}}"#, "items", "must be an array"),
        (#"[]"#, "", "must be an object"),
    ])
    func namesTheFieldAndWhatIsWrong(json: String, path: String, problem: String) throws {
        let error = try error(json)
        #expect(error.fieldPath == path)
        #expect(error.fieldProblem == problem)
    }

    @Test func textThatIsNotJSONHasNoField() throws {
        let error = try error("{not json")
        #expect(error.fieldPath == "")
        #expect(error.fieldProblem.hasPrefix("not valid JSON"))
    }

    @Test func aPathOfKeysAndIndexes() {
        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int?
            init(stringValue: String) { self.stringValue = stringValue }
            init(intValue: Int) {
                self.stringValue = String(intValue)
                self.intValue = intValue
            }
        }
        #expect(DecodingError.fieldPath([]) == "")
        #expect(DecodingError.fieldPath([Key(stringValue: "a"), Key(intValue: 2), Key(intValue: 0), Key(stringValue: "b")]) == "a[2][0].b")
    }
}
