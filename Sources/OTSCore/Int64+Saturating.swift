extension Int64 {
    /// The whole number nearest `value`, held to Int64's range (NaN is 0),
    /// where `Int64(_:)` would trap: for arithmetic on stored or sent values.
    public init(saturating value: Double) {
        if value.isNaN {
            self = 0
        } else if value >= 9_223_372_036_854_775_807.0 {
            self = .max
        } else if value <= -9_223_372_036_854_775_808.0 {
            self = .min
        } else {
            self = Int64(value.rounded())
        }
    }
}

extension Int {
    /// The whole number nearest `value`, held to Int's range (NaN is 0).
    public init(saturating value: Double) {
        self = Int(Int64(saturating: value))
    }
}
