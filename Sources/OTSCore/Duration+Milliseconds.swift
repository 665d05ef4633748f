extension Duration {
    /// Whole milliseconds (toward zero, held to Int64's range): the unit
    /// of stored times and of events' `duration_ms`.
    public var milliseconds: Int64 {
        Int64(saturating: (self / .milliseconds(1)).rounded(.towardZero))
    }
}
