import Foundation
import OTSCore
import Testing

@testable import OTSServer

/// The original OTS's `request_sync` options as OTS requests: its units,
/// its lists and its device strings, and a fault for what it did not know.
@Suite struct OriginalRequestTests {
    static func read(_ options: [String: XMLRPCValue], notify: [String] = ["qa@lab"]) throws(XMLRPCFault) -> OriginalRequest {
        try OriginalRequest(swProduct: "prod", requestID: "42", notify: notify, options: options)
    }

    @Test func ots_triggersOptionsBecomeARequest() throws {
        let original = try Self.read([
            "image": .string("http://img/x.bin"), "packages": .string("a-tests, b-tests c-tests"), "hosttest": .string("h-tests"),
            "chroottest": .string("c2-tests"), "device": .string("devicegroup:lab devicename:n900 deviceid:7"),
            "testfilter": .string("\"type=Functional\""), "timeout": .string("30"), "distribution_model": .string("optimized"),
            "target_execution_time": .int(20), "max_worker_amount": .string("3"), "flasher_options": .string("--erase  --fast"),
            "email": .string("off"), "email_attachments": .string("on"), "priority": .int(5),
            "hw_testplans": .array([.array([.string("plan.xml"), .string("<testdefinition/>")])]),
            "host_testplans": .array([.array([.string("host-plan"), .string("<testdefinition/>")])]),
            "build_url": .string("https://build/request/%s"), "emmc": .string("x"), "qa_label": .string("y"),
        ])
        let request = original.request
        #expect(request.swProduct == "prod")
        #expect(request.requestID == "42")
        #expect(request.notify == ["qa@lab"])
        #expect(request.image == "http://img/x.bin")
        #expect(request.packages.device == ["a-tests", "b-tests", "c-tests"])
        #expect(request.packages.host == ["h-tests", "c2-tests"])
        #expect(request.device == DeviceProperties(devicegroup: "lab", devicename: "n900", deviceid: "7"))
        #expect(request.testfilter == "type=Functional")
        #expect(request.timeout == 1800)
        #expect(request.distributionModel == "history")
        #expect(request.targetExecutionTime == 1200)
        #expect(request.maxWorkerAmount == 3)
        #expect(request.flasherOptions == ["--erase", "--fast"])
        #expect(request.email == false)
        #expect(request.emailAttachments == true)
        #expect(request.priority == 5)
        #expect(request.verdictRules == .original)
        #expect(
            request.inlineDefinitions == [
                InlineDefinition(name: "plan.xml", location: .device, xml: "<testdefinition/>"),
                InlineDefinition(name: "host-plan", location: .host, xml: "<testdefinition/>"),
            ])
        #expect(original.notes.contains("option emmc of the original OTS is ignored here"))
        #expect(original.notes.contains("option qa_label of the original OTS is ignored here"))
        #expect(original.notes.contains("build: https://build/request/42"))
        #expect(original.notes.contains { $0.hasPrefix("chroottest packages (c2-tests) run on the worker host") })
        #expect(request.problems(models: ["single", "perpackage", "history"]).isEmpty)
    }

    @Test func aDeviceMayBeAStructAndModelsHaveTheOriginalsNames() throws {
        let original = try Self.read([
            "image": .string("http://i/x"), "packages": .array([.string("a"), .string("b c")]),
            "device": .structure(["devicegroup": .string("g"), "devicename": .string("n")]), "distribution_model": .string("default"),
        ])
        #expect(original.request.device == DeviceProperties(devicegroup: "g", devicename: "n"))
        #expect(original.request.packages.device == ["a", "b", "c"])
        #expect(original.request.distributionModel == "single")
        #expect(original.request.timeout == nil, "the server's default")
        #expect(original.notes.isEmpty)
    }

    @Test(arguments: [
        (["packages": XMLRPCValue.string("a"), "device": .string("devicegroup:g")], "options.image: required"),
        (["image": .string("i"), "colour": .string("x")], "options.colour: not an option of request_sync"),
        (["image": .string("i")], "options.device: give a devicegroup"),
        (["image": .string("i"), "device": .string("devicegroup")], "is not key:value"),
        (["image": .string("i"), "device": .string("devicegroup:g colour:red")], "options.device.colour: not a device property"),
        (
            ["image": .string("i"), "device": .string("devicegroup:g"), "timeout": .string("soon")],
            "options.timeout: 'soon' is not a whole number"
        ),
        (["image": .string("i"), "device": .string("devicegroup:g"), "timeout": .int(999_999)], "options.timeout: at most"),
        (["image": .string("i"), "device": .string("devicegroup:g"), "email": .string("maybe")], "options.email: on or off"),
        (
            ["image": .string("i"), "device": .string("devicegroup:g"), "distribution_model": .string("random")],
            "not default, perpackage or optimized"
        ),
        (
            ["image": .string("i"), "device": .string("devicegroup:g"), "hw_testplans": .array([.string("x")])],
            "options.hw_testplans[0]: a [name, xml] pair"
        ),
        (["image": .array([]), "device": .string("devicegroup:g")], "options.image: a string, not array"),
    ])
    func aWrongOptionIsAFaultThatNamesIt(options: [String: XMLRPCValue], words: String) {
        #expect {
            _ = try Self.read(options)
        } throws: { error in
            guard let fault = error as? XMLRPCFault else { return false }
            return fault.code == XMLRPCFault.invalidParameters && fault.message.contains(words)
        }
    }
}
