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
    /// How far the best value is below the best before the current streak of new bests began (0 for
    /// the first value): a fall spread over several epochs counts whole.
    public var improvement: Double = 0
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
    /// What the latest epochs say against the curves' own noise (see `Shape`).
    public var shape = Shape()
    public var numClasses: Int?
    public var target = Target()
    /// The movement ratio of the latest epoch (`LearningSignal.movementRatio`), and the band it is
    /// judged against; nil when the run logged none for that epoch.
    public var movementRatio: Double?
    public var band: LearningBand?

    /// Every layer that moved at the latest epoch barely moved (below the band, CS231n's rule): the
    /// learning rate is too low for the layers that train, whatever the loss does by the epoch.
    public var layersBarelyMove: Bool {
        guard let r = movementRatio, let band else { return false }
        return band.verdict(r) == .barelyMoving
    }

    /// ln(classes): the loss of a classifier that guesses uniformly (nil when the classes are unknown).
    public var chanceLoss: Double? { numClasses.map { log(Double($0)) } }

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
    var trainAccuracies: [Double] = []
    var valAccuracies: [Double] = []
    /// Record index of the best val accuracy so far.
    var bestValAccuracyIndex: Int?

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
        if let a = curves.trainAccuracy[i], a.isFinite { trainAccuracies.append(a) }
        if let a = curves.valAccuracy[i], a.isFinite {
            if a > (bestValAccuracy ?? -.infinity) { bestValAccuracyIndex = i }
            valAccuracies.append(a)
        }
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
            longestValStallBeforeBest: val.longestWaitBeforeBest,
            shape: Shape(train: train, val: val, breaks: curves.controlEvents, trainAccuracies: trainAccuracies, valAccuracies: valAccuracies,
                         bestValAccuracyIndex: bestValAccuracyIndex, count: next),
            numClasses: curves.numClasses, target: curves.target,
            movementRatio: curves.movement(at: next - 1), band: curves.band)
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
    /// How far the current best beat the best before its streak of new bests began.
    var improvement = 0.0
    /// The best before the current streak of consecutive new bests.
    var streakBase: Double?

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
        if sinceBest > 0 || streakBase == nil { streakBase = best?.value }
        improvement = streakBase.map { $0 - v } ?? 0
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
            fractionLeft: first > 0 ? last / first : 1, improvement: improvement)
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

/// The shape of the curves at the latest epoch, each number judged against the curve's own noise:
/// the standard deviation of its second differences over √6, which is the spread of an i.i.d.
/// series with those second differences (a smooth trend has nearly none).
public struct Shape: Sendable, Equatable {
    /// Noise of val_loss and of the train loss (nil with fewer than 3 second differences after the first 3 epochs).
    public var valNoise: Double?
    public var trainNoise: Double?
    /// The level val_loss sits at now: the median of its last three values (the last value in runs
    /// under six epochs, where every epoch is a large share of the run).
    public var valLevel: Double?
    /// The level val_loss sat at around its best: the median of the best and its two neighbours
    /// (the best value itself in runs under six epochs). The lowest single value of a noisy curve
    /// sits below its level by the noise; a rise is measured level to level.
    public var valBestLevel: Double?
    /// Least-squares slope of val_loss from its best to now, per epoch (nil with under 2 points).
    public var valSlopeSinceBest: Double?
    /// Every val_loss value since the best is higher than the one before it.
    public var valRoseEveryEpochSinceBest = false
    /// Mann-Kendall z of the val_loss values after its best (the last 60 at most): above 1.645 is
    /// a rising trend at the 5% level (nil with under 3 values).
    public var valTrendZ: Double?
    /// Mean train accuracy minus mean val accuracy over the last three epochs.
    public var accuracyGap: Double?
    public var meanTrainAccuracy: Double?
    /// Val loss or val accuracy made a new best in the last third of the run, or is still moving
    /// the right way by more than twice its noise over that third.
    public var valImproving = true
    /// Val loss made a new best in the last third of the run.
    public var valNewBestLately = true
    /// Val loss is more than 5% below its value at the middle of the run: the plateau test's own
    /// yardstick (`trainBarelyLower`), read on validation.
    public var valClearlyLower = false
    /// The train loss has plateaued: under 5% lower than at the middle of the run, and not falling
    /// by more than twice its noise over the last third.
    public var trainPlateau = false
    /// The train loss is less than 5% below its value at the middle of the run.
    public var trainBarelyLower = false
    /// Change of the train loss over the last third by its least-squares line (negative: falling).
    public var trainChangeLastThird: Double?
    /// The train loss's ratio val_loss / loss now, and a third of the run ago.
    public var lossRatio: Double?
    public var lossRatioEarlier: Double?
    /// Train loss values in the last third (for "stuck at chance").
    public var trainLastThird: [Double] = []
    /// The lowest train loss before the last third, and the first train loss.
    public var trainLowBeforeLastThird: Double?
    public var trainFirst: Double?

    public init() {}

    /// How many of the latest records make "the last third" of `count` (at least 2).
    static func third(_ count: Int) -> Int { max(2, Int((Double(count) / 3).rounded(.up))) }

    init(train: SeriesTracker, val: SeriesTracker, breaks: Set<Int> = [], trainAccuracies: [Double], valAccuracies: [Double],
         bestValAccuracyIndex: Int?, count: Int) {
        valNoise = Self.noise(val.values, at: val.indices, breaks: breaks)
        trainNoise = Self.noise(train.values, at: train.indices, breaks: breaks)
        let third = Self.third(count)
        let cutoff = count - third
        if !val.values.isEmpty {
            let recent = val.values.suffix(3).sorted()
            valLevel = val.values.count < 6 || recent.count < 3 ? val.values.last : recent[1]
        }
        if let best = val.best, let k = val.indices.firstIndex(of: best.index) {
            let around = val.values[max(0, k - 1)...min(val.values.count - 1, k + 1)].sorted()
            valBestLevel = val.values.count < 6 || around.count < 3 ? best.value : around[1]
            let since = Array(val.values[k...].suffix(100))
            valSlopeSinceBest = since.count >= 2 ? Self.slope(since) : nil
            valRoseEveryEpochSinceBest = since.count >= 2 && zip(since, since.dropFirst()).allSatisfy { $0 < $1 }
            let after = Array(val.values[(k + 1)...].suffix(60))
            valTrendZ = after.count >= 3 ? Self.mannKendallZ(after) : nil
        }
        let a = trainAccuracies.suffix(3)
        let v = valAccuracies.suffix(3)
        if !a.isEmpty { meanTrainAccuracy = a.reduce(0, +) / Double(a.count) }
        if let ma = meanTrainAccuracy, !v.isEmpty { accuracyGap = ma - v.reduce(0, +) / Double(v.count) }
        // Val improving: a new best in the last third, or a clear trend the right way.
        let newBestLoss = val.best.map { $0.index >= cutoff } ?? false
        let newBestAccuracy = bestValAccuracyIndex.map { $0 >= cutoff } ?? false
        let lastVal = Self.lastThird(val, cutoff)
        let valFalling = lastVal.count >= 2 && (valNoise.map { Self.change(lastVal) < -2 * $0 } ?? false)
        if let last = val.values.last, let middle = Self.lastValue(val, before: count / 2 + 1), count >= 4 {
            valClearlyLower = SeriesSignals.relative(last, to: middle) < -0.05
        }
        let lastValAccuracy = Array(valAccuracies.suffix(third))
        let accNoise = Self.noise(valAccuracies)
        let accRising = lastValAccuracy.count >= 2 && (accNoise.map { Self.change(lastValAccuracy) > 2 * $0 } ?? false)
        // A new best made by noise on a flat curve is not improvement: once the noise is known, the
        // last third must also move the right way by more than twice it.
        let newBest = newBestLoss || newBestAccuracy
        valNewBestLately = val.values.isEmpty || newBestLoss
        let trendKnown = valNoise != nil || accNoise != nil
        valImproving = val.values.isEmpty && valAccuracies.isEmpty ? true : (trendKnown ? newBest && (valFalling || accRising) : newBest)
        // Train plateau.
        let lastTrain = Self.lastThird(train, cutoff)
        trainLastThird = lastTrain
        trainFirst = train.values.first
        trainLowBeforeLastThird = zip(train.indices, train.values).filter { $0.0 < cutoff }.map(\.1).min()
        if lastTrain.count >= 2 { trainChangeLastThird = Self.change(lastTrain) }
        if let last = train.values.last, let middle = Self.lastValue(train, before: count / 2 + 1),
           let change = trainChangeLastThird, count >= 4 {
            let barelyLower = SeriesSignals.relative(last, to: middle) >= -0.05
            trainBarelyLower = barelyLower
            let notFalling = change >= -2 * (trainNoise ?? 0)
            trainPlateau = barelyLower && notFalling
        }
        if let l = train.values.last, let vl = val.values.last, l > 0, vl > 0 { lossRatio = vl / l }
        if let l = Self.lastValue(train, before: cutoff), let vl = Self.lastValue(val, before: cutoff), l > 0, vl > 0 {
            lossRatioEarlier = vl / l
        }
    }

    /// The latest value recorded before record index `cutoff`.
    static func lastValue(_ series: SeriesTracker, before cutoff: Int) -> Double? {
        guard let k = series.indices.lastIndex(where: { $0 < cutoff }) else { return nil }
        return series.values[k]
    }

    static func lastThird(_ series: SeriesTracker, _ cutoff: Int) -> [Double] {
        zip(series.indices, series.values).filter { $0.0 >= cutoff }.map(\.1)
    }

    /// Std of the second differences over √6, after the first three values and over the last 200;
    /// nil with fewer than 3 second differences. A second difference whose three records span a
    /// control event (`breaks`: a record the job reached after a toggle or a new learning rate, at
    /// `indices`) is left out: the one-off jump the change caused is the change, not noise.
    static func noise(_ values: [Double], at indices: [Int] = [], breaks: Set<Int> = []) -> Double? {
        let skip = values.count - min(200, max(0, values.count - 3))
        let xs = Array(values.dropFirst(skip))
        let at = indices.count == values.count ? Array(indices.dropFirst(skip)) : []
        guard xs.count >= 5 else { return nil }
        var d: [Double] = []
        for k in 1..<(xs.count - 1) {
            if !breaks.isEmpty, !at.isEmpty, breaks.contains(at[k]) || breaks.contains(at[k + 1]) { continue }
            let second: Double = xs[k + 1] - 2 * xs[k] + xs[k - 1]
            d.append(second)
        }
        guard d.count >= 3 else { return nil }
        let mean: Double = d.reduce(0, +) / Double(d.count)
        var variance = 0.0
        for x in d { variance += (x - mean) * (x - mean) }
        variance /= Double(d.count)
        return (variance.squareRoot()) / 6.0.squareRoot()
    }

    /// Least-squares slope of the values against their position.
    static func slope(_ ys: [Double]) -> Double {
        guard ys.count >= 2 else { return 0 }
        let n = Double(ys.count)
        let meanX = (n - 1) / 2
        let meanY = ys.reduce(0, +) / n
        var num = 0.0
        var den = 0.0
        for (i, y) in ys.enumerated() {
            let dx = Double(i) - meanX
            num += dx * (y - meanY)
            den += dx * dx
        }
        return num / den
    }

    /// The Mann-Kendall trend statistic as a z score (with the continuity correction, no tie correction).
    static func mannKendallZ(_ xs: [Double]) -> Double {
        let n = xs.count
        var score = 0
        for i in 0..<n {
            for j in (i + 1)..<n where xs[j] != xs[i] { score += xs[j] > xs[i] ? 1 : -1 }
        }
        let nd = Double(n)
        let variance = nd * (nd - 1) * (2 * nd + 5) / 18
        guard variance > 0 else { return 0 }
        if score > 0 { return (Double(score) - 1) / variance.squareRoot() }
        if score < 0 { return (Double(score) + 1) / variance.squareRoot() }
        return 0
    }

    /// The change along the least-squares line from the first value to the last.
    static func change(_ ys: [Double]) -> Double { slope(ys) * Double(ys.count - 1) }
}
