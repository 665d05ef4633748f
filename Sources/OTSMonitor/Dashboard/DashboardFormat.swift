import Foundation
import OTSCore

/// How the dashboard writes times, durations and names.
enum DashboardFormat {
    /// `2026-11-29 09:40:12 UTC`.
    static func time(_ date: Date?) -> String {
        guard let date else { return "-" }
        let c = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC")!, from: date)
        return String(
            format: "%04d-%02d-%02d %02d:%02d:%02d UTC", c.year ?? 0, c.month ?? 0, c.day ?? 0, c.hour ?? 0, c.minute ?? 0, c.second ?? 0)
    }

    /// `4 s ago`, `3 min ago`, `2 h ago`, `5 d ago`.
    static func ago(_ date: Date?, now: Date) -> String {
        guard let date else { return "-" }
        let seconds = max(0, now.timeIntervalSince(date))
        return DurationText.seconds(seconds, coarse: true) + " ago"
    }

    static func percent(_ ratio: Double) -> String { String(format: "%.1f%%", ratio * 100) }

    /// Who must act on an error of the category.
    static func owner(_ category: ErrorCategory?) -> String {
        switch category {
        case .user: "the requestor"
        case .device: "the lab (the device)"
        case .image: "whoever built the image"
        case .infrastructure: "the OTS administrators"
        case .test: "the test's authors or the developers"
        case nil: "-"
        }
    }

    /// A path segment with everything but unreserved characters escaped.
    static func pathSegment(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? text
    }

    /// Text for XML (SVG) written by hand.
    static func xml(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}
