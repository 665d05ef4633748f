/// The attributes that suites, sets and cases share (the schema's
/// `general_attributes`), as written in the file.
///
/// `nil` means the attribute was not given: the runner then inherits it
/// from the enclosing set or suite, or takes the schema's default.
public struct GeneralAttributes: Sendable, Hashable, Codable {
    public var name: String
    public var description: String?
    public var requirement: String?
    /// Seconds; the schema's default is 90.
    public var timeout: Int?
    public var type: String?
    public var level: String?
    public var domain: String?
    public var feature: String?
    public var component: String?
    public var manual: Bool?
    public var insignificant: Bool?
    public var hwid: String?

    public init(
        name: String,
        description: String? = nil,
        requirement: String? = nil,
        timeout: Int? = nil,
        type: String? = nil,
        level: String? = nil,
        domain: String? = nil,
        feature: String? = nil,
        component: String? = nil,
        manual: Bool? = nil,
        insignificant: Bool? = nil,
        hwid: String? = nil
    ) {
        self.name = name
        self.description = description
        self.requirement = requirement
        self.timeout = timeout
        self.type = type
        self.level = level
        self.domain = domain
        self.feature = feature
        self.component = component
        self.manual = manual
        self.insignificant = insignificant
        self.hwid = hwid
    }

    /// The names of the attributes, as spelled in XML.
    static let names: Set<String> = [
        "name", "description", "requirement", "timeout", "type", "level", "domain", "feature", "component",
        "manual", "insignificant", "hwid",
    ]

    /// The schema's default timeout, in seconds.
    public static let defaultTimeout = 90

    /// These attributes with every unset one taken from `parent`: how a
    /// case inherits from its set, and a set from its suite.
    public func inheriting(from parent: GeneralAttributes) -> GeneralAttributes {
        var result = self
        result.requirement = requirement ?? parent.requirement
        result.timeout = timeout ?? parent.timeout
        result.type = type ?? parent.type
        result.level = level ?? parent.level
        result.domain = domain ?? parent.domain
        result.feature = feature ?? parent.feature
        result.component = component ?? parent.component
        result.manual = manual ?? parent.manual
        result.insignificant = insignificant ?? parent.insignificant
        result.hwid = hwid ?? parent.hwid
        return result
    }
}
