/// A test definition sent inside a request (the original OTS's
/// `hw_testplans` and `host_testplans`): run like a package of that name,
/// on the device or on the worker host.
public struct InlineDefinition: Sendable, Hashable, Codable {
    /// Its name, a package name: its results go under it.
    public var name: String
    /// `device` (run against the device) or `host` (run on the worker host).
    public var location: PackageRequest.Location
    /// The tests.xml text.
    public var xml: String

    public init(name: String, location: PackageRequest.Location, xml: String) {
        self.name = name
        self.location = location
        self.xml = xml
    }
}
