import Foundation

/// Durations as people read them, in one style everywhere (the
/// dashboard, the command line, planning notes).
public enum DurationText {
    /// `0.50 s`, `12 s`, `3 min 20 s`, `2 h 5 min`, `3 d 4 h`; coarse
    /// drops the fraction under 10 s; `-` for nil or a value that is not
    /// finite.
    public static func seconds(_ seconds: Double?, coarse: Bool = false) -> String {
        guard let seconds, seconds.isFinite else { return "-" }
        let whole = Int(saturating: seconds.rounded(.down))
        switch seconds {
        case ..<10 where !coarse: return String(format: "%.2f s", seconds)
        case ..<60: return "\(whole) s"
        case ..<3600: return "\(whole / 60) min \(whole % 60) s"
        case ..<86_400: return "\(whole / 3600) h \(whole % 3600 / 60) min"
        default: return "\(whole / 86_400) d \(whole % 86_400 / 3600) h"
        }
    }
}
