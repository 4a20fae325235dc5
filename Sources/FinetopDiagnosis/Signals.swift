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
    /// Per-epoch change on a log scale over the trailing window (least squares), e.g. -0.05 ≈ falling 5% an epoch.
    public var logSlope: Double
    /// `last / first`: how much of its first value is left.
    public var fractionLeft: Double
    /// Epoch-to-epoch noise on a log scale (a standard deviation), from second differences over the
    /// trailing window so a steady trend does not count as noise.
    public var noise: Double
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

    public init(_ curves: Curves, window: Int = 5) {
        count = curves.count
        epochNumbers = curves.epochNumbers
        hasValidation = curves.hasValidation
        firstNonFinite = Self.firstNonFinite(curves)
        latestNonFinite = Self.isNonFinite(curves.trainLoss.last ?? nil) || Self.isNonFinite(curves.valLoss.last ?? nil)
        train = SeriesSignals(curves.trainLoss, window: window)
        val = SeriesSignals(curves.valLoss, window: window)
        trainAtValBest = val.flatMap { v in curves.trainLoss[v.best.index] }
        trainAccuracy = Self.lastFinite(curves.trainAccuracy)
        bestTrainAccuracy = Self.maxFinite(curves.trainAccuracy)
        valAccuracy = Self.lastFinite(curves.valAccuracy)
        bestValAccuracy = Self.maxFinite(curves.valAccuracy)
        accuracyName = curves.accuracyName
        longestValStallBeforeBest = val.map { EarlyStoppingRule.longestWait(curves.valLoss, before: $0.best.index) } ?? 0
    }

    /// The run's epoch number for a record index.
    public func epoch(_ index: Int) -> Int { epochNumbers.indices.contains(index) ? epochNumbers[index] : index }

    static func isNonFinite(_ v: Double?) -> Bool { v.map { !$0.isFinite } ?? false }

    static func firstNonFinite(_ curves: Curves) -> Int? {
        curves.trainLoss.indices.first { isNonFinite(curves.trainLoss[$0]) || isNonFinite(curves.valLoss[$0]) }
    }

    static func lastFinite(_ xs: [Double?]) -> Double? {
        xs.last { $0?.isFinite ?? false } ?? nil
    }

    static func maxFinite(_ xs: [Double?]) -> Double? {
        xs.compactMap { $0 }.filter(\.isFinite).max()
    }
}

extension SeriesSignals {
    /// Nil when the series has no finite value.
    init?(_ series: [Double?], window: Int) {
        let points = series.enumerated().compactMap { i, v in v.flatMap { $0.isFinite ? (i, $0) : nil } }
        guard let firstPoint = points.first, let lastPoint = points.last else { return nil }
        var best = BestSoFar(index: firstPoint.0, value: firstPoint.1)
        for (i, v) in points.dropFirst() where EarlyStoppingRule.improves(v, on: best.value, minDelta: 0) {
            best = BestSoFar(index: i, value: v)
        }
        first = firstPoint.1
        last = lastPoint.1
        lastIndex = lastPoint.0
        self.best = best
        sinceBest = points.filter { $0.0 > best.index }.count
        riseFromBest = Self.relative(last, to: best.value)
        let recent = points.suffix(3).map(\.1).sorted()
        sustainedRise = recent.count == 3 ? Self.relative(recent[1], to: best.value) : 0
        logSlope = Self.logSlope(points.suffix(window).map(\.1))
        fractionLeft = first > 0 ? last / first : 1
        noise = Self.noise(points.suffix(2 * window).map(\.1))
    }

    /// For independent noise of deviation σ on ln(value), a second difference has deviation √6·σ,
    /// and the median of its absolute value is 0.674 of that: σ ≈ median / 1.65.
    static func noise(_ values: [Double]) -> Double {
        let logs = values.filter { $0 > 0 }.map { log($0) }
        guard logs.count >= 4 else { return 0 }
        var second: [Double] = []
        for i in 2..<logs.count {
            let d: Double = logs[i] - 2 * logs[i - 1] + logs[i - 2]
            second.append(abs(d))
        }
        second.sort()
        return second[second.count / 2] / 1.65
    }

    static func relative(_ x: Double, to base: Double) -> Double {
        base > 0 ? x / base - 1 : (x > base ? .infinity : 0)
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
