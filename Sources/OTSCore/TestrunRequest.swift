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
        let all = packages.device + packages.host
        if all.isEmpty && (testDefinitions ?? []).isEmpty {
            add("packages", "give at least one package (packages.device or packages.host) or test definition")
        }
        if all.count > Limits.packages {
            add("packages", "at most \(Limits.packages) packages, not \(all.count)")
        }
        for (kind, names) in [("device", packages.device), ("host", packages.host)] {
            var seen: Set<String> = []
            for (index, name) in names.enumerated() {
                if let problem = Self.packageNameProblem(name) {
                    add("packages.\(kind)[\(index)]", problem)
                } else if !seen.insert(name).inserted {
                    add("packages.\(kind)[\(index)]", "package '\(name)' is listed twice")
                }
            }
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
