/// The version of this OTS build, reported by every component and carried
/// in the sender of every monitor event.
public enum OTSVersion {
    public static let current = "0.1.0"
}
