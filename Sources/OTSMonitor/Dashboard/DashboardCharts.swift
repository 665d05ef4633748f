import Foundation
import OTSCore

/// The dashboard's charts, as SVG drawn on the server: no script and no
/// library. Each has a text equivalent (its label, and a table beside it).
enum DashboardCharts {
    /// PASS, FAIL and ERROR as one bar split by count.
    static func verdicts(pass: Int, fail: Int, error: Int) -> String {
        let total = pass + fail + error
        let label = "Verdicts: PASS \(pass), FAIL \(fail), ERROR \(error)"
        let width = 320.0
        var svg = """
            <svg class="chart verdict-bar" viewBox="0 0 \(Int(width)) 28" role="img" aria-label="\(DashboardFormat.xml(label))">\
            <title>\(DashboardFormat.xml(label))</title>
            """
        guard total > 0 else {
            return svg + #"<rect x="0" y="4" width="320" height="20" class="empty"/><text x="8" y="19">no verdicts yet</text></svg>"#
        }
        var x = 0.0
        for (name, count) in [("pass", pass), ("fail", fail), ("error", error)] where count > 0 {
            let w = width * Double(count) / Double(total)
            svg +=
                #"<rect x="\#(format(x))" y="4" width="\#(format(w))" height="20" class="\#(name)"><title>\#(name.uppercased()) \#(count)</title></rect>"#
            x += w
        }
        return svg + "</svg>"
    }

    struct PhaseBar {
        var name: String
        var median: Double?
        var p95: Double?
    }

    /// Median and p95 of each phase as horizontal bars on one scale.
    static func phases(_ bars: [PhaseBar]) -> String {
        let longest = bars.compactMap { $0.p95 ?? $0.median }.max() ?? 0
        let labelWidth = 90.0
        let barWidth = 300.0
        let rowHeight = 30.0
        let height = rowHeight * Double(bars.count) + 10
        let description = bars.map {
            "\($0.name): median \(DurationText.seconds($0.median)), p95 \(DurationText.seconds($0.p95))"
        }.joined(separator: "; ")
        var svg = """
            <svg class="chart phases" viewBox="0 0 \(Int(labelWidth + barWidth + 130)) \(Int(height))" role="img" \
            aria-label="Phase durations: \(DashboardFormat.xml(description))"><title>Phase durations</title>
            """
        for (index, bar) in bars.enumerated() {
            let y = 6 + Double(index) * rowHeight
            svg += #"<text x="0" y="\#(format(y + 15))" class="label">\#(DashboardFormat.xml(bar.name))</text>"#
            if let p95 = bar.p95, longest > 0 {
                svg +=
                    #"<rect x="\#(format(labelWidth))" y="\#(format(y))" width="\#(format(max(1, barWidth * p95 / longest)))" height="20" class="p95"><title>p95 \#(DurationText.seconds(p95))</title></rect>"#
            }
            if let median = bar.median, longest > 0 {
                svg +=
                    #"<rect x="\#(format(labelWidth))" y="\#(format(y + 5))" width="\#(format(max(1, barWidth * median / longest)))" height="10" class="median"><title>median \#(DurationText.seconds(median))</title></rect>"#
            }
            let text = bar.median == nil ? "no data" : "\(DurationText.seconds(bar.median)) / \(DurationText.seconds(bar.p95))"
            svg +=
                #"<text x="\#(format(labelWidth + barWidth + 8))" y="\#(format(y + 15))" class="value">\#(DashboardFormat.xml(text))</text>"#
        }
        return svg + "</svg>"
    }

    struct Segment {
        var start: Date
        var end: Date?
        /// queue, flash, boot, test, results.
        var kind: String
        var label: String
        var failed: Bool
    }

    struct Row {
        var label: String
        var segments: [Segment]
    }

    /// One row per task, each phase a bar on a shared time axis from
    /// `origin` to `until`.
    static func timeline(_ rows: [Row], origin: Date, until: Date) -> String {
        let span = max(1, until.timeIntervalSince(origin))
        let labelWidth = 110.0
        let plotWidth = 760.0
        let rowHeight = 34.0
        let top = 24.0
        let height = top + rowHeight * Double(max(1, rows.count)) + 6
        var svg = """
            <svg class="chart timeline" viewBox="0 0 \(Int(labelWidth + plotWidth + 10)) \(Int(height))" role="img" \
            aria-label="Timeline of \(rows.count) task(s) over \(DurationText.seconds(span)); the table below lists every phase">\
            <title>Timeline</title>
            """
        for tick in 0...4 {
            let x = labelWidth + plotWidth * Double(tick) / 4
            let text = tick == 0 ? "0" : "+" + DurationText.seconds(span * Double(tick) / 4, coarse: span >= 40)
            svg += #"<line x1="\#(format(x))" y1="\#(format(top - 4))" x2="\#(format(x))" y2="\#(format(height))" class="tick"/>"#
            let anchor = tick == 0 ? "start" : (tick == 4 ? "end" : "middle")
            svg += #"<text x="\#(format(x))" y="14" text-anchor="\#(anchor)" class="tick-label">\#(DashboardFormat.xml(text))</text>"#
        }
        for (index, row) in rows.enumerated() {
            let y = top + Double(index) * rowHeight
            svg += #"<text x="0" y="\#(format(y + 19))" class="label">\#(DashboardFormat.xml(row.label))</text>"#
            for segment in row.segments {
                let start = max(0, segment.start.timeIntervalSince(origin))
                let end = min(span, (segment.end ?? until).timeIntervalSince(origin))
                let x = labelWidth + plotWidth * start / span
                let width = max(2, plotWidth * max(0, end - start) / span)
                var classes = "segment \(segment.kind)"
                if segment.failed { classes += " failed" }
                if segment.end == nil { classes += " running" }
                let title = "\(segment.label): \(segment.end == nil ? "running, " : "")\(DurationText.seconds(end - start))"
                svg +=
                    #"<rect x="\#(format(x))" y="\#(format(y + 4))" width="\#(format(width))" height="22" rx="2" class="\#(classes)"><title>\#(DashboardFormat.xml(title))</title></rect>"#
            }
        }
        return svg + "</svg>"
    }

    private static func format(_ value: Double) -> String { String(format: "%.1f", value) }
}
