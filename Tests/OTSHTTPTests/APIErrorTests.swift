import Foundation
import OTSCore
import OTSHTTP
import Testing

/// A request body that does not decode gets one error naming its field.
@Suite struct APIErrorTests {
    struct Probe: Decodable {
        var attempt: Int?
        var duration: Double?
    }

    // schemathesis sent an event whose attempt was 101043775624031666176;
    // Foundation's decoder on Linux calls that JSON that is not valid and
    // names no field.
    @Test(arguments: [
        (
            #"{"attempt": 101043775624031666176}"#, "attempt",
            "attempt: must be a whole number from -9223372036854775808 to 9223372036854775807"
        ),
        (
            #"{"attempt": 1.5, "duration": 2}"#, "attempt",
            "attempt: must be a whole number from -9223372036854775808 to 9223372036854775807"
        ),
    ])
    func aNumberThatDoesNotFitItsFieldIsNamed(body: String, field: String, message: String) {
        do {
            _ = try APIError.decodeBody(Probe.self, from: Data(body.utf8), what: "the probe")
            Issue.record("decoded \(body)")
        } catch {
            #expect(error.code == .badRequest)
            #expect(error.field == field)
            #expect(error.message == message)
        }
    }

    @Test func numbersThatCouldEachBeAtFaultAreListed() {
        do {
            _ = try APIError.decodeBody(Probe.self, from: Data(#"{"attempt": 1e30, "duration": 0.5}"#.utf8), what: "the probe")
            Issue.record("decoded a number that does not fit")
        } catch {
            #expect(error.field == "body")
            #expect(error.message.hasPrefix("body: a number in the probe does not fit its field (attempt, duration)"))
        }
    }

    @Test func jsonThatIsNotValidIsStillSaidToBe() {
        do {
            _ = try APIError.decodeBody(Probe.self, from: Data(#"{"attempt": "#.utf8), what: "the probe")
            Issue.record("decoded broken JSON")
        } catch {
            #expect(error.field == "body")
            #expect(error.message.hasPrefix("body: the probe is not valid JSON"))
        }
    }
}
