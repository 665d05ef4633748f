import Foundation

/// What a requestor submits: the image to flash, the device to use, the test
/// packages to run, and how. Its JSON keys are those of the REST API.
public struct TestrunRequest: Sendable, Hashable, Codable {
    public struct Packages: Sendable, Hashable, Codable {
        /// Packages whose tests.xml is on the device.
        public var device: [String]
        /// Packages run on the worker host against the device.
        public var host: [String]

        public init(device: [String] = [], host: [String] = []) {
            self.device = device
            self.host = host
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            device = try container.decodeIfPresent([String].self, forKey: .device) ?? []
            host = try container.decodeIfPresent([String].self, forKey: .host) ?? []
        }
    }

    /// How much the monitor hears about tests.
    public enum DetailLevel: String, Sendable, Hashable, Codable, CaseIterable {
        case package, set, `case`, step
    }

    public var swProduct: String?
    public var image: String?
    /// `sha256:HEX` of the image: workers verify it, and reuse a cached
    /// download that matches.
    public var imageChecksum: String?
    public var device: DeviceProperties
    public var packages: Packages
    public var testDefinitions: [String]?
    public var testfilter: String?
    public var distributionModel: String?
    /// Seconds for the whole testrun.
    public var timeout: Int?
    public var flasherOptions: [String]?
    public var requestor: String?
    public var notify: [String]?
    public var priority: Int?
    public var detailLevel: DetailLevel?
    /// Count insignificant failures in the verdict.
    public var countInsignificant: Bool?
    public var maxWorkerAmount: Int?
    /// Seconds the testrun should take at most (history model).
    public var targetExecutionTime: Int?
    /// A URL that hears this testrun's events.
    public var callbackURL: String?
    /// The build request this testrun tests (the original OTS's
    /// `request_id`): shown with the testrun, and in its e-mail's subject.
    public var requestID: String?
    /// Whose verdict rules judge it (default `ots`; `original` for the
    /// original OTS's XML-RPC interface).
    public var verdictRules: VerdictRules.Mode?
    /// Whether `notify` hears the verdict by e-mail (default true).
    public var email: Bool?
    /// Whether that e-mail carries the results XML and JUnit (default false).
    public var emailAttachments: Bool?
    /// Test definitions sent with the request (the original's
    /// `hw_testplans` and `host_testplans`).
    public var inlineDefinitions: [InlineDefinition]?

    enum CodingKeys: String, CodingKey {
        case swProduct = "sw_product"
        case image
        case imageChecksum = "image_checksum"
        case device
        case packages
        case testDefinitions = "test_definitions"
        case testfilter
        case distributionModel = "distribution_model"
        case timeout
        case flasherOptions = "flasher_options"
        case requestor
        case notify
        case priority
        case detailLevel = "detail_level"
        case countInsignificant = "count_insignificant"
        case maxWorkerAmount = "max_worker_amount"
        case targetExecutionTime = "target_execution_time"
        case callbackURL = "callback_url"
        case requestID = "request_id"
        case verdictRules = "verdict_rules"
        case email
        case emailAttachments = "email_attachments"
        case inlineDefinitions = "inline_definitions"
    }

    public init(device: DeviceProperties, packages: Packages) {
        self.device = device
        self.packages = packages
    }

    /// Limits on what a request may hold.
    public enum Limits {
        public static let packages = 500
        public static let nameLength = 200
        public static let textLength = 4096
        public static let maximumTimeout = 7 * 86_400
        public static let maximumWorkers = 10_000
        public static let recipients = 100
        /// The longest address SMTP carries (RFC 5321's path limit).
        public static let addressLength = 254
    }

    /// A problem with one field.
    public struct Problem: Sendable, Hashable, CustomStringConvertible {
        public var field: String
        public var message: String

        public var description: String { "\(field): \(message)" }
    }

    /// Every problem with the request, each naming its field; empty when it
    /// can be accepted. `models` are the distribution models the server knows.
    public func problems(models: [String]) -> [Problem] {
        var problems: [Problem] = []
        func add(_ field: String, _ message: String) { problems.append(Problem(field: field, message: message)) }

        for problem in device.problems {
            let field = problem.split(separator: " ").first.map(String.init) ?? "device"
            add("device.\(field)", problem)
        }
        let all = packages.device + packages.host + (inlineDefinitions ?? []).map(\.name)
        if all.isEmpty && (testDefinitions ?? []).isEmpty {
            add("packages", "give at least one package (packages.device or packages.host) or test definition")
        }
        if all.count > Limits.packages {
            add("packages", "at most \(Limits.packages) packages, not \(all.count)")
        }
        var seen: Set<String> = []
        let named =
            [("packages.device", packages.device), ("packages.host", packages.host)]
            + [("inline_definitions", (inlineDefinitions ?? []).map(\.name))]
        for (field, names) in named {
            for (index, name) in names.enumerated() {
                let field = field == "inline_definitions" ? "inline_definitions[\(index)].name" : "\(field)[\(index)]"
                if let problem = Self.packageNameProblem(name) {
                    add(field, problem)
                } else if !seen.insert(name).inserted {
                    add(field, "package '\(name)' is listed twice")
                }
            }
        }
        for (index, definition) in (inlineDefinitions ?? []).enumerated() {
            if definition.location == .url {
                add("inline_definitions[\(index)].location", "must be device or host")
            }
            if definition.xml.isEmpty { add("inline_definitions[\(index)].xml", "the test definition is empty") }
        }
        for (index, address) in (notify ?? []).enumerated() {
            if let problem = Self.addressProblem(address) { add("notify[\(index)]", problem) }
        }
        if let notify, notify.count > Limits.recipients {
            add("notify", "at most \(Limits.recipients) addresses, not \(notify.count)")
        }
        // Like images, definitions may be files on the worker (file://).
        for (index, url) in (testDefinitions ?? []).enumerated() {
            if let problem = Self.urlProblem(url, schemes: ["http", "https", "file"]) {
                add("test_definitions[\(index)]", problem)
            }
        }
        if let image, let problem = Self.urlProblem(image, schemes: ["http", "https", "file"]) {
            add("image", problem)
        }
        if let imageChecksum, Self.checksumProblem(imageChecksum) != nil {
            add("image_checksum", Self.checksumProblem(imageChecksum)!)
        }
        if imageChecksum != nil && image == nil {
            add("image_checksum", "given without an image")
        }
        if let model = distributionModel, !models.contains(model) {
            add("distribution_model", "unknown model '\(model)' (known: \(models.joined(separator: ", ")))")
        }
        if let timeout, !(1...Limits.maximumTimeout).contains(timeout) {
            add("timeout", "must be from 1 to \(Limits.maximumTimeout) seconds, not \(timeout)")
        }
        if let targetExecutionTime, !(1...Limits.maximumTimeout).contains(targetExecutionTime) {
            add("target_execution_time", "must be from 1 to \(Limits.maximumTimeout) seconds, not \(targetExecutionTime)")
        }
        if let maxWorkerAmount, !(1...Limits.maximumWorkers).contains(maxWorkerAmount) {
            add("max_worker_amount", "must be from 1 to \(Limits.maximumWorkers), not \(maxWorkerAmount)")
        }
        if let priority, !(-100...100).contains(priority) {
            add("priority", "must be from -100 to 100, not \(priority)")
        }
        if let callbackURL, let problem = Self.urlProblem(callbackURL, schemes: ["http", "https"]) {
            add("callback_url", problem)
        }
        for (field, value) in [("sw_product", swProduct), ("requestor", requestor), ("testfilter", testfilter)] {
            if let value, value.count > Limits.textLength {
                add(field, "at most \(Limits.textLength) characters")
            }
        }
        if let requestID {
            if requestID.count > Limits.nameLength {
                add("request_id", "at most \(Limits.nameLength) characters")
            } else if requestID.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
                add("request_id", "may not hold control characters")
            }
        }
        if let swProduct, swProduct.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            add("sw_product", "may not hold control characters")
        }
        for (index, option) in (flasherOptions ?? []).enumerated() where option.count > Limits.textLength {
            add("flasher_options[\(index)]", "at most \(Limits.textLength) characters")
        }
        return problems
    }

    /// Package names become folder names on workers: letters, digits and
    /// `._+-`, not starting with a dot, so nothing escapes its folder.
    static func packageNameProblem(_ name: String) -> String? {
        if name.isEmpty { return "a package name is empty" }
        if name.count > Limits.nameLength { return "package name longer than \(Limits.nameLength) characters" }
        if name.hasPrefix(".") || name.hasPrefix("-") {
            return "package name '\(name)' may not start with '.' or '-'"
        }
        guard name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._+-".contains($0)) }) else {
            return "package name '\(name)' may hold only letters, digits and . _ + -"
        }
        return nil
    }

    /// An e-mail address as SMTP carries it: `local@domain`, nothing a
    /// header or an SMTP command could be split with.
    public static func addressProblem(_ address: String) -> String? {
        let shown = "'\(address.prefix(100))'"
        guard address.count <= Limits.addressLength else { return "an address is at most \(Limits.addressLength) characters" }
        let parts = address.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return "\(shown) is not an e-mail address (local@domain)" }
        guard address.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F && !"<>(),;:\\\"[]".unicodeScalars.contains($0) })
        else {
            return "\(shown) holds a character an e-mail address may not (space, control, or one of <>(),;:\\\"[])"
        }
        return nil
    }

    /// `sha256:` and 64 hexadecimal digits.
    public static func checksumProblem(_ text: String) -> String? {
        let hex = text.lowercased().dropFirst("sha256:".count)
        guard text.lowercased().hasPrefix("sha256:"), hex.count == 64, hex.allSatisfy(\.isHexDigit) else {
            return "must be sha256: and 64 hexadecimal digits"
        }
        return nil
    }

    static func urlProblem(_ text: String, schemes: Set<String> = ["http", "https"]) -> String? {
        guard text.count <= Limits.textLength, let url = URLComponents(string: text), let scheme = url.scheme?.lowercased() else {
            return "'\(text.prefix(100))' is not a URL"
        }
        guard schemes.contains(scheme) else {
            return "URL scheme '\(scheme)' is not one of \(schemes.sorted().joined(separator: ", "))"
        }
        if scheme != "file", (url.host ?? "").isEmpty {
            return "URL '\(text.prefix(100))' has no host"
        }
        return nil
    }
}
