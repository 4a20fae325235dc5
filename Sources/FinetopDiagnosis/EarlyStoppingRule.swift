/// Keras `EarlyStopping(monitor="val_loss", mode="min")` replayed over a finished series: the
/// anchor the diagnosis is compared with, and the source of the patience it suggests.
public struct EarlyStoppingRule: Sendable, Equatable {
    public var patience: Int
    public var minDelta: Double

    public init(patience: Int = 5, minDelta: Double = 0) {
        self.patience = patience
        self.minDelta = minDelta
    }

    /// The index at which Keras would stop training, or nil if it would run to the end.
    /// Keras counts an improvement when `current - min_delta < best` (with `min_delta` negated for
    /// mode "min", so it must beat the best by `|min_delta|`) and stops once `wait >= patience`;
    /// a NaN never improves.
    public func stopIndex(_ values: [Double?]) -> Int? {
        var best = Double.infinity
        var wait = 0
        for (i, value) in values.enumerated() {
            guard let v = value else { continue }
            if Self.improves(v, on: best, minDelta: minDelta) {
                best = v
                wait = 0
                continue
            }
            wait += 1
            if wait >= patience { return i }
        }
        return nil
    }

    static func improves(_ value: Double, on best: Double, minDelta: Double) -> Bool {
        value + abs(minDelta) < best
    }
}
