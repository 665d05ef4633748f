/// Who hears of a testrun's end by e-mail, and what the mail tells of its
/// request. The server puts it in the details of `testrun.requested`, so
/// the monitor, which sends the mail, needs none of the server's tables.
public struct MailRequest: Sendable, Hashable {
    public var recipients: [String]
    public var swProduct: String?
    public var requestID: String?
    /// Attach the results XML and the JUnit.
    public var attachments: Bool
    /// The request as the mail shows it, a `name: value` line each.
    public var summary: [String]

    public init(recipients: [String], swProduct: String? = nil, requestID: String? = nil, attachments: Bool = false, summary: [String] = [])
    {
        self.recipients = recipients
        self.swProduct = swProduct
        self.requestID = requestID
        self.attachments = attachments
        self.summary = summary
    }

    /// What a request asks; nil when nobody is to hear (no `notify`, or
    /// `email` off). `notes` are the plan's.
    public init?(_ request: TestrunRequest, notes: [String] = []) {
        guard request.email ?? true, let notify = request.notify, !notify.isEmpty else { return nil }
        var summary: [String] = []
        func line(_ name: String, _ value: String?) {
            if let value, !value.isEmpty { summary.append("\(name): \(value)") }
        }
        line("image", request.image)
        line("device", request.device.requestedRoutingKey)
        line("packages", request.packages.device.joined(separator: ", "))
        line("host packages", request.packages.host.joined(separator: ", "))
        line("test definitions", (request.testDefinitions ?? []).joined(separator: ", "))
        line("definitions sent with the request", (request.inlineDefinitions ?? []).map(\.name).joined(separator: ", "))
        line("testfilter", request.testfilter)
        line("distribution", request.distributionModel)
        line("timeout", request.timeout.map { DurationText.seconds(Double($0)) })
        line("requestor", request.requestor)
        line("verdict rules", request.verdictRules?.rawValue)
        for note in notes { line("note", note) }
        self.init(
            recipients: notify, swProduct: request.swProduct, requestID: request.requestID, attachments: request.emailAttachments ?? false,
            summary: summary)
    }

    /// As `testrun.requested` tells it.
    public var details: [String: String] {
        var details = ["notify": recipients.joined(separator: ","), "request": String(summary.joined(separator: "\n").prefix(4096))]
        if let swProduct { details["sw_product"] = swProduct }
        if let requestID { details["request_id"] = requestID }
        if attachments { details["email_attachments"] = "true" }
        return details
    }

    /// What `testrun.requested` told; nil when it asks for no mail.
    public init?(details: [String: String]) {
        let recipients = (details["notify"] ?? "").split(separator: ",").map(String.init).filter { !$0.isEmpty }
        guard !recipients.isEmpty else { return nil }
        self.init(
            recipients: recipients, swProduct: details["sw_product"], requestID: details["request_id"],
            attachments: details["email_attachments"] == "true",
            summary: (details["request"] ?? "").split(separator: "\n").map(String.init))
    }
}
