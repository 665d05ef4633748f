import Testing

@testable import OTSWorker

@Suite struct CommandTemplateTests {
    @Test func placeholdersAreReplacedInsideTheirWordOnly() throws {
        let template = try CommandTemplate(["flasher", "--device={device}", "{image}", "--log", "/var/log/{device}-flash.log"])
        #expect(template.placeholders == ["device", "image"])
        let arguments = try template.arguments(["device": "n9-0042", "image": "/cache/my image; rm -rf /.bin"])
        #expect(arguments == ["flasher", "--device=n9-0042", "/cache/my image; rm -rf /.bin", "--log", "/var/log/n9-0042-flash.log"])
    }

    @Test func aPlaceholderWithoutAValueIsNamed() throws {
        let template = try CommandTemplate(["boot", "{address}"])
        #expect(
            throws: WorkerError(.configuration, "the command 'boot {address}' uses {address}, which has no value here (known: {device})")
        ) {
            try template.arguments(["device": "d"])
        }
    }

    @Test(arguments: [[String](), [""], ["flash", "{image"], ["flash", "image}"], ["flash", "{{image}}"]])
    func badCommandsAreRefused(words: [String]) {
        #expect(throws: WorkerError.self) { try CommandTemplate(words) }
    }
}
