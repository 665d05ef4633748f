import Foundation
import Testing

@testable import OTSCore

@Suite struct TestrunRequestTests {
    let models = ["perpackage", "single"]

    func request(_ json: String) throws -> TestrunRequest {
        try JSONDecoder().decode(TestrunRequest.self, from: Data(json.utf8))
    }

    @Test func decodesTheAPIsKeys() throws {
        let request = try request(
            """
            {"sw_product": "phone-os", "image": "https://images.lab/phone-os/42.img",
             "device": {"devicegroup": "phones", "devicename": "n9"},
             "packages": {"device": ["a-tests", "b-tests"], "host": ["c-host-tests"]},
             "distribution_model": "perpackage", "timeout": 3600, "priority": 5,
             "requestor": "ci@lab", "notify": ["qa@lab"], "detail_level": "set",
             "count_insignificant": true, "max_worker_amount": 4, "target_execution_time": 900,
             "callback_url": "http://hooks.lab/ots", "flasher_options": ["--erase"], "testfilter": "+feature=wifi"}
            """
        )
        #expect(request.device == DeviceProperties(devicegroup: "phones", devicename: "n9"))
        #expect(request.packages.device == ["a-tests", "b-tests"])
        #expect(request.packages.host == ["c-host-tests"])
        #expect(request.detailLevel == .set)
        #expect(request.countInsignificant == true)
        #expect(request.problems(models: models).isEmpty)
    }

    @Test func missingPackagesNameTheField() throws {
        let problems = try request(#"{"device": {"devicegroup": "phones"}, "packages": {}}"#).problems(models: models)
        #expect(problems.map(\.field) == ["packages"])
    }

    @Test func aMissingDevicegroupIsADecodingError() {
        #expect(throws: DecodingError.self) { try request(#"{"device": {}, "packages": {"device": ["a"]}}"#) }
    }

    @Test(arguments: [
        (#"{"device": {"devicegroup": "phones"}, "packages": {"device": ["../etc"]}}"#, "packages.device[0]"),
        (#"{"device": {"devicegroup": "phones"}, "packages": {"device": ["a b"]}}"#, "packages.device[0]"),
        (#"{"device": {"devicegroup": "phones"}, "packages": {"host": ["a", "a"]}}"#, "packages.host[1]"),
        (#"{"device": {"devicegroup": ""}, "packages": {"device": ["a"]}}"#, "device.devicegroup"),
        (#"{"device": {"devicegroup": "g"}, "packages": {"device": ["a"]}, "distribution_model": "magic"}"#, "distribution_model"),
        (#"{"device": {"devicegroup": "g"}, "packages": {"device": ["a"]}, "timeout": 0}"#, "timeout"),
        (#"{"device": {"devicegroup": "g"}, "packages": {"device": ["a"]}, "image": "ftp://x/y.img"}"#, "image"),
        (#"{"device": {"devicegroup": "g"}, "packages": {"device": ["a"]}, "callback_url": "not a url"}"#, "callback_url"),
        (#"{"device": {"devicegroup": "g"}, "packages": {"device": ["a"]}, "priority": 1000}"#, "priority"),
    ])
    func badFieldsAreNamed(json: String, field: String) throws {
        #expect(try request(json).problems(models: models).map(\.field) == [field])
    }

    @Test func tooManyPackagesAreRefused() {
        var request = TestrunRequest(
            device: DeviceProperties(devicegroup: "g"),
            packages: .init(device: (0...TestrunRequest.Limits.packages).map { "p\($0)" })
        )
        #expect(request.problems(models: models).map(\.field) == ["packages"])
        request.packages.device.removeLast()
        #expect(request.problems(models: models).isEmpty)
    }
}
