import Testing

/// What a test waited for and never saw: thrown by `eventually` after it
/// recorded the issue, so that the test stops there.
public struct NeverCame: Error, CustomStringConvertible {
    public let description: String
}

/// Waits until `value` gives something, looking every `interval`, for at
/// most `limit`: the one way a test waits for what another process or task
/// does. When nothing came, records an issue naming `what` (with `detail`,
/// read then: a process's log, say) and throws `NeverCame`.
@discardableResult
public func eventually<Value>(
    _ what: String,
    within limit: Duration = .seconds(30),
    every interval: Duration = .milliseconds(100),
    detail: @autoclosure () -> String = "",
    sourceLocation: SourceLocation = #_sourceLocation,
    _ value: () async throws -> Value?
) async throws -> Value {
    let clock = ContinuousClock()
    let deadline = clock.now + limit
    while true {
        if let found = try await value() { return found }
        if clock.now >= deadline { break }
        try await Task.sleep(for: interval)
    }
    let extra = detail()
    let message = "never came within \(limit): \(what)" + (extra.isEmpty ? "" : "\n" + extra)
    Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation)
    throw NeverCame(description: message)
}

/// Waits until `condition` holds, looking every `interval`, for at most
/// `limit`; records an issue naming `what` (with `detail`) and throws
/// `NeverCame` when it never does.
public func eventually(
    _ what: String,
    within limit: Duration = .seconds(30),
    every interval: Duration = .milliseconds(100),
    detail: @autoclosure () -> String = "",
    sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () async throws -> Bool
) async throws {
    let _: Void = try await eventually(what, within: limit, every: interval, detail: detail(), sourceLocation: sourceLocation) {
        try await condition() ? () : nil
    }
}
