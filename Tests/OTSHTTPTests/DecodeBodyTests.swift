import Foundation
import OTSHTTP
import Testing

/// A request body that does not decode gets one error naming the path of
/// the field at fault, and what it must be.
@Suite struct DecodeBodyTests {
    struct Item: Decodable {
        var n: Int
    }

    struct Probe: Decodable {
        var name: String
        var flag: Bool?
        var ratio: Double?
        var items: [Item]?
    }

    static func failure(_ body: String) -> APIError? {
        do {
            _ = try APIError.decodeBody(Probe.self, from: Data(body.utf8), what: "the probe")
            return nil
        } catch {
            return error
        }
    }

    @Test(arguments: [
        (#"{}"#, "name", "name: required, missing from the probe"),
        (#"{"name": null}"#, "name", "name: must be a string, not null"),
        (#"{"name": 5}"#, "name", "name: must be a string"),
        (#"{"name": "a", "flag": "yes"}"#, "flag", "flag: must be true or false"),
        (#"{"name": "a", "ratio": "half"}"#, "ratio", "ratio: must be a number"),
        (#"{"name": "a", "items": {}}"#, "items", "items: must be an array"),
        (#"{"name": "a", "items": [{"n": 1}, {"n": "two"}]}"#, "items[1].n", "items[1].n: must be an integer"),
        (#"{"name": "a", "items": [{}]}"#, "items[0].n", "items[0].n: required, missing from the probe"),
    ])
    func theFieldAtFaultIsNamedByItsPath(body: String, field: String, message: String) throws {
        let error = try #require(Self.failure(body), "decoded \(body)")
        #expect(error.code == .badRequest)
        #expect(error.field == field)
        #expect(error.message == message)
    }

    /// A keyed container is an object, not an array (a Dictionary is also
    /// a Collection).
    @Test func whereAnObjectWasWantedItIsSaid() throws {
        let inside = try #require(Self.failure(#"{"name": "a", "items": [5]}"#))
        #expect(inside.field == "items[0]")
        let whole = try #require(Self.failure("[1, 2]"))
        #expect(whole.field == "body")
        #expect(inside.message == "items[0]: must be an object")
        #expect(whole.message == "the probe: must be an object")
    }

    @Test(arguments: ["", "{", "nonsense", #"{"name": "a""#])
    func textThatIsNotJSONIsSaidToBe(body: String) throws {
        let error = try #require(Self.failure(body))
        #expect(error.field == "body")
        #expect(error.message.hasPrefix("body: the probe is not valid JSON"), "\(error.message)")
    }

    @Test func aBodyThatDecodesIsReturned() throws {
        let probe = try APIError.decodeBody(Probe.self, from: Data(#"{"name": "a", "items": [{"n": 3}]}"#.utf8), what: "the probe")
        #expect(probe.name == "a")
        #expect(probe.items?.map(\.n) == [3])
    }

    @Test func anErrorThatIsNotADecodingErrorIsStillAboutTheBody() {
        struct Odd: Error {}
        let error = APIError.decoding(Odd(), what: "the probe")
        #expect(error.code == .badRequest)
        #expect(error.field == "body")
        #expect(error.message.hasPrefix("body: the probe is not valid JSON"))
    }
}
