#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The best value of a series so far and where it was, by Keras's improvement rule.
public struct BestSoFar: Sendable, Equatable {
    /// Index into the series (not the run's epoch number).
    public var index: Int
    public var value: Double
}

/// What one series says at the latest epoch it has.
public struct SeriesSignals: Sendable, Equatable {
    public var first: Double
    public var last: Double
    public var lastIndex: Int
    public var best: BestSoFar
    /// Records since the best one (0 when the latest is the best).
    public var sinceBest: Int
    /// `last / best - 1`: how far the latest value is above the best.
    public var riseFromBest: Double
    /// The rise of the median of the last three values: the level the curve sits at, which one
    /// spike up or down does not move.
    public var sustainedRise: Double
    /// The lowest of the last three values: a noisy training loss spikes up on bad batches, and its
    /// floor says what the model fits now.
    public var recentLow: Double
    /// Per-epoch change on a log scale over the trailing window (least squares), e.g. -0.05 ≈ falling 5% an epoch.
    public var logSlope: Double
    /// `last / first`: how much of its first value is left.
    public var fractionLeft: Double
}

/// Everything the rules read at one epoch, computed only from the records up to that epoch.
public struct Signals: Sendable, Equatable {
    public var count: Int
    public var epochNumbers: [Int]
    /// The first record whose loss or val_loss is NaN or ±Inf.
    public var firstNonFinite: Int?
    public var latestNonFinite: Bool
    public var train: SeriesSignals?
    public var val: SeriesSignals?
    /// Train loss at the record where val_loss was best.
    public var trainAtValBest: Double?
    public var trainAccuracy: Double?
    public var bestTrainAccuracy: Double?
    public var valAccuracy: Double?
    public var bestValAccuracy: Double?
    public var accuracyName: String?
    public var hasValidation: Bool
    /// The longest stretch without a new best val_loss before the best one (Keras's `wait`).
    public var longestValStallBeforeBest: Int

    /// The run's epoch number for a record index.
    public func epoch(_ index: Int) -> Int { epochNumbers.indices.contains(index) ? epochNumbers[index] : index }

    /// The epoch as sentences name it: 1-based, the way Keras prints "Epoch 18/50" and
    /// "Restoring model weights from the end of the best epoch: 18" (JSON fields stay 0-based).
    public func shown(_ index: Int) -> Int { epoch(index) + 1 }
}

extension Signals {
    /// The signals at the last record of `curves`.
    public init(_ curves: Curves, window: Int = 5) {
        var running = RunningSignals(curves, window: window)
        while running.next < curves.count { running.add() }
        self = running.signals
    }
}

/// Signals kept up to date one record at a time, so replaying a run of n epochs costs n steps
/// of a few window-sized sums instead of n full passes.
public struct RunningSignals: Sendable {
    let curves: Curves
    let window: Int
    /// The index of the record `add()` reads next.
    public private(set) var next = 0
    var train = SeriesTracker()
    var val = SeriesTracker()
    var firstNonFinite: Int?
    var latestNonFinite = false
    var sawValidation = false
    var trainAccuracy: Double?
    var bestTrainAccuracy: Double?
    var valAccuracy: Double?
    var bestValAccuracy: Double?

    public init(_ curves: Curves, window: Int = 5) {
        self.curves = curves
        self.window = window
    }

    public mutating func add() {
        let i = next
        next += 1
        let t = curves.trainLoss[i]
        let v = curves.valLoss[i]
        latestNonFinite = Self.isNonFinite(t) || Self.isNonFinite(v)
        if latestNonFinite && firstNonFinite == nil { firstNonFinite = i }
        sawValidation = sawValidation || v != nil
        train.add(t, at: i)
        val.add(v, at: i)
        Self.track(curves.trainAccuracy[i], last: &trainAccuracy, best: &bestTrainAccuracy)
        Self.track(curves.valAccuracy[i], last: &valAccuracy, best: &bestValAccuracy)
    }

    public var signals: Signals {
        let valSignals = val.signals(window: window)
        return Signals(
            count: next, epochNumbers: curves.epochNumbers, firstNonFinite: firstNonFinite,
            latestNonFinite: latestNonFinite, train: train.signals(window: window), val: valSignals,
            trainAtValBest: valSignals.flatMap { curves.trainLoss[$0.best.index] },
            trainAccuracy: trainAccuracy, bestTrainAccuracy: bestTrainAccuracy,
            valAccuracy: valAccuracy, bestValAccuracy: bestValAccuracy,
            accuracyName: curves.accuracyName, hasValidation: sawValidation,
            longestValStallBeforeBest: val.longestWaitBeforeBest)
    }

    static func isNonFinite(_ v: Double?) -> Bool { v.map { !$0.isFinite } ?? false }

    static func track(_ value: Double?, last: inout Double?, best: inout Double?) {
        guard let value, value.isFinite else { return }
        last = value
        best = max(best ?? value, value)
    }
}

/// One loss series seen so far: its finite values, its best by Keras's rule, and its stalls.
struct SeriesTracker: Sendable {
    var values: [Double] = []
    var indices: [Int] = []
    var best: BestSoFar?
    var sinceBest = 0
    var wait = 0
    var longestWait = 0
    /// The longest stall before the current best (Keras's `wait`), for a patience that would not
    /// have stopped the run before it got there.
    var longestWaitBeforeBest = 0

    mutating func add(_ value: Double?, at index: Int) {
        guard let v = value, v.isFinite else { return }
        values.append(v)
        indices.append(index)
        if let b = best, !EarlyStoppingRule.improves(v, on: b.value, minDelta: 0) {
            sinceBest += 1
            wait += 1
            longestWait = max(longestWait, wait)
            return
        }
        longestWaitBeforeBest = longestWait
        best = BestSoFar(index: index, value: v)
        sinceBest = 0
        wait = 0
    }

    func signals(window: Int) -> SeriesSignals? {
        guard let best, let first = values.first, let last = values.last, let lastIndex = indices.last else { return nil }
        let recent = values.suffix(3).sorted()
        return SeriesSignals(
            first: first, last: last, lastIndex: lastIndex, best: best, sinceBest: sinceBest,
            riseFromBest: SeriesSignals.relative(last, to: best.value),
            sustainedRise: recent.count == 3 ? SeriesSignals.relative(recent[1], to: best.value) : 0,
            recentLow: recent.first ?? last,
            logSlope: SeriesSignals.logSlope(Array(values.suffix(window))),
            fractionLeft: first > 0 ? last / first : 1)
    }
}

extension SeriesSignals {
    /// `(x - base) / |base|`: the relative change, also for losses that go negative (a Gaussian
    /// NLL, a cosine loss), where `x / base - 1` would flip its sign.
    static func relative(_ x: Double, to base: Double) -> Double {
        if base != 0 { return (x - base) / abs(base) }
        return x > base ? .infinity : 0
    }

    /// Least-squares slope of ln(value) against position; 0 for fewer than 2 positive values.
    static func logSlope(_ values: [Double]) -> Double {
        let ys = values.filter { $0 > 0 }.map { log($0) }
        guard ys.count >= 2 else { return 0 }
        let n = Double(ys.count)
        let meanX = (n - 1) / 2
        let meanY = ys.reduce(0, +) / n
        var num = 0.0
        var den = 0.0
        for (i, y) in ys.enumerated() {
            num += (Double(i) - meanX) * (y - meanY)
            den += (Double(i) - meanX) * (Double(i) - meanX)
        }
        return num / den
    }
}
