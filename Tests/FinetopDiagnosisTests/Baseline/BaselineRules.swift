// The diagnosis rules as they were before issue 17 (commit d47b243), kept verbatim inside a
// namespace so the evaluation can score the baseline on any corpus, including curves added later.
import FinetopCore
@testable import FinetopDiagnosis
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

enum Baseline {

    /// The per-epoch series the diagnosis reads, taken from a run's epoch records. A value the record
    /// does not have is `nil`; a value it has as NaN stays NaN (that is evidence of divergence).
    struct Curves: Sendable, Equatable {
        /// The run's own epoch numbers (0-based), one per record.
        var epochNumbers: [Int]
        var trainLoss: [Double?]
        var valLoss: [Double?]
        var trainAccuracy: [Double?]
        var valAccuracy: [Double?]
        /// Where accuracy came from (`accuracy`, `acc`, `sparse_categorical_accuracy`, …), for evidence.
        var accuracyName: String?

        init(epochNumbers: [Int], trainLoss: [Double?], valLoss: [Double?],
                    trainAccuracy: [Double?] = [], valAccuracy: [Double?] = [], accuracyName: String? = nil) {
            self.epochNumbers = epochNumbers
            self.trainLoss = trainLoss
            self.valLoss = valLoss
            self.trainAccuracy = trainAccuracy.isEmpty ? Array(repeating: nil, count: trainLoss.count) : trainAccuracy
            self.valAccuracy = valAccuracy.isEmpty ? Array(repeating: nil, count: trainLoss.count) : valAccuracy
            self.accuracyName = accuracyName
        }

        /// Reads the series from a run, accepting the names other frameworks use for the same thing.
        init(_ run: Run) {
            let records = run.epochs
            let accuracy = Self.accuracyName(in: records)
            self.init(
                epochNumbers: records.map(\.epoch),
                trainLoss: records.map { Self.first(of: Self.trainLossNames, in: $0) },
                valLoss: records.map { Self.first(of: Self.valLossNames, in: $0) },
                trainAccuracy: records.map { r in accuracy.flatMap { r.values[$0] } },
                valAccuracy: records.map { r in accuracy.flatMap { r.values["val_" + $0] } },
                accuracyName: accuracy)
        }

        var count: Int { trainLoss.count }
        var hasValidation: Bool { valLoss.contains { $0 != nil } }

        static let trainLossNames = ["loss", "train_loss", "train_loss_epoch"]
        static let valLossNames = ["val_loss", "eval_loss", "val_loss_epoch", "validation_loss"]
        static let accuracyNames = [
            "accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy", "binary_accuracy",
        ]

        static func first(of names: [String], in record: EpochRecord) -> Double? {
            for name in names {
                if let v = record.values[name] { return v }
            }
            return nil
        }

        static func accuracyName(in records: [EpochRecord]) -> String? {
            accuracyNames.first { name in records.contains { $0.values[name] != nil || $0.values["val_" + name] != nil } }
        }
    }

    /// The best value of a series so far and where it was, by Keras's improvement rule.
    struct BestSoFar: Sendable, Equatable {
        /// Index into the series (not the run's epoch number).
        var index: Int
        var value: Double
    }

    /// What one series says at the latest epoch it has.
    struct SeriesSignals: Sendable, Equatable {
        var first: Double
        var last: Double
        var lastIndex: Int
        var best: BestSoFar
        /// Records since the best one (0 when the latest is the best).
        var sinceBest: Int
        /// `last / best - 1`: how far the latest value is above the best.
        var riseFromBest: Double
        /// The rise of the median of the last three values: the level the curve sits at, which one
        /// spike up or down does not move.
        var sustainedRise: Double
        /// The lowest of the last three values: a noisy training loss spikes up on bad batches, and its
        /// floor says what the model fits now.
        var recentLow: Double
        /// Per-epoch change on a log scale over the trailing window (least squares), e.g. -0.05 ≈ falling 5% an epoch.
        var logSlope: Double
        /// `last / first`: how much of its first value is left.
        var fractionLeft: Double
    }

    /// Everything the rules read at one epoch, computed only from the records up to that epoch.
    struct Signals: Sendable, Equatable {
        var count: Int
        var epochNumbers: [Int]
        /// The first record whose loss or val_loss is NaN or ±Inf.
        var firstNonFinite: Int?
        var latestNonFinite: Bool
        var train: SeriesSignals?
        var val: SeriesSignals?
        /// Train loss at the record where val_loss was best.
        var trainAtValBest: Double?
        var trainAccuracy: Double?
        var bestTrainAccuracy: Double?
        var valAccuracy: Double?
        var bestValAccuracy: Double?
        var accuracyName: String?
        var hasValidation: Bool
        /// The longest stretch without a new best val_loss before the best one (Keras's `wait`).
        var longestValStallBeforeBest: Int

        /// The run's epoch number for a record index.
        func epoch(_ index: Int) -> Int { epochNumbers.indices.contains(index) ? epochNumbers[index] : index }

        /// The epoch as sentences name it: 1-based, the way Keras prints "Epoch 18/50" and
        /// "Restoring model weights from the end of the best epoch: 18" (JSON fields stay 0-based).
        func shown(_ index: Int) -> Int { epoch(index) + 1 }
    }


    /// Signals kept up to date one record at a time, so replaying a run of n epochs costs n steps
    /// of a few window-sized sums instead of n full passes.
    struct RunningSignals: Sendable {
        let curves: Curves
        let window: Int
        /// The index of the record `add()` reads next.
        private(set) var next = 0
        var train = SeriesTracker()
        var val = SeriesTracker()
        var firstNonFinite: Int?
        var latestNonFinite = false
        var sawValidation = false
        var trainAccuracy: Double?
        var bestTrainAccuracy: Double?
        var valAccuracy: Double?
        var bestValAccuracy: Double?

        init(_ curves: Curves, window: Int = 5) {
            self.curves = curves
            self.window = window
        }

        mutating func add() {
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

        var signals: Signals {
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
            if let b = best, !FinetopDiagnosis.EarlyStoppingRule.improves(v, on: b.value, minDelta: 0) {
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


    /// The numbers the rules compare against, each with the reason it has that value.
    struct Thresholds: Sendable, Equatable {
        /// Fewer epochs than this say too little (one epoch's average already mixes learning into it).
        var minEpochs = 3
        /// A final train loss above this multiple of the first one is "far above its start".
        var explodeOverStart = 2.0
        /// Errors made with the true class at probability below e^-9.2 ≈ 1e-4 on average are saturated
        /// outputs, not a slow learner (uniform guessing over 10,000 classes still scores above it).
        var saturationNats = 9.2
        /// A train accuracy that had reached at least this and then halved has collapsed (below it,
        /// halving can be noise around chance).
        var collapseFromAccuracy = 0.4
        /// Val loss this far above its best, as the median of the last three epochs, is a turn
        /// (deepchecks' 0.05 best-to-last drop).
        var overfitRise = 0.05
        /// Once overfitting, the label holds while the val level stays this fraction of the entry rise
        /// above its best (a small band, so it does not toggle on the threshold itself).
        var overfitHoldFraction = 0.8
        /// Val loss must have gone this many epochs without a new best (one spike does not make a turn).
        var overfitSinceBest = 2
        /// A slow turn: this many epochs without a new best val_loss. With the second epoch the label
        /// needs, it is said by the fifth, when Keras `EarlyStopping(patience=5)` would stop.
        var stallEpochs = 4
        /// ... while the val level sits at least this far above its best ...
        var stallRise = 0.01
        /// ... and has climbed at least this much per epoch since the best, on course for the 5% turn
        /// within ten epochs: a drift away from the best, not a plateau hovering just above it ...
        var stallRisePerEpoch = 0.005
        /// ... and the train loss fell at least this much since the val best: the curves are parting.
        var stallTrainDrop = 0.10
        /// Either way the train loss (the low of its last three epochs) must have fallen this much
        /// since the val best: a model whose
        /// train loss stands still (a learning rate decayed to nothing) is not learning the training
        /// set any better, whatever the val noise does.
        var overfitTrainDrop = 0.05
        /// Below this accuracy on its own training data (and validation), a classifier does not fit the data:
        /// it still gets more than one example in ten wrong.
        var underfitAccuracy = 0.90
        /// ... unless train accuracy is this far above val accuracy (deepchecks' 0.1 train-test
        /// degradation): such a model already fits its training data better than it generalizes, so
        /// its limit is generalization, not capacity, and more layers would not help.
        var generalizationGap = 0.10
        /// Without accuracy: a loss that kept more than this fraction of its first value barely learned.
        var underfitLossLeft = 0.6
        /// Falling faster than this per epoch (log scale) over the window is "still learning".
        var stillFallingSlope = -0.02

        init() {}
    }

    /// A label for one epoch before hysteresis, with how sure it is.
    struct RawCall: Sendable, Equatable {
        var label: FitLabel
        var confidence: Double
        /// Evidence that needs no second epoch to change the label: a NaN, or a new best val_loss
        /// while the label says overfitting (val has not turned, whatever it did before).
        var decisive: Bool

        init(label: FitLabel, confidence: Double, decisive: Bool = false) {
            self.label = label
            self.confidence = confidence
            self.decisive = decisive
        }
    }

    /// The per-epoch rules: pure functions of the signals at that epoch (and, for hysteresis of the
    /// overfitting threshold, the label that was in force).
    enum Rules {
        /// The label the signals point to at this epoch, first match wins: diverging, too early,
        /// overfitting, underfitting, fit.
        static func call(_ s: Signals, current: FitLabel, _ t: Thresholds = Thresholds()) -> RawCall {
            if let c = diverging(s, t) { return c }
            if s.count < t.minEpochs { return RawCall(label: .tooEarly, confidence: 0) }
            if let c = overfitting(s, holding: current == .overfitting, t) { return c }
            var c = underfitting(s, t) ?? fit(s, t)
            c.decisive = current == .overfitting && s.val?.sinceBest == 0
            return c
        }

        // MARK: diverging

        /// Which sign of divergence decided it, with its number for the evidence.
        enum DivergenceKind: Sendable, Equatable {
            case nonFinite(index: Int)
            case explodedOverStart(ratio: Double)
            case saturated(nats: Double)
            case accuracyCollapsed(from: Double, to: Double)
        }

        static func divergence(_ s: Signals, _ t: Thresholds = Thresholds()) -> DivergenceKind? {
            if s.latestNonFinite, let i = s.firstNonFinite { return .nonFinite(index: i) }
            guard let train = s.train, train.lastIndex == s.count - 1 else { return nil }
            let ratio = train.fractionLeft
            if train.lastIndex > 0, train.first > 0, ratio > t.explodeOverStart { return .explodedOverStart(ratio: ratio) }
            if let nats = errorNats(s, t), nats > t.saturationNats { return .saturated(nats: nats) }
            if let best = s.bestTrainAccuracy, let now = s.trainAccuracy, best >= t.collapseFromAccuracy, now < best / 2 {
                return .accuracyCollapsed(from: best, to: now)
            }
            return nil
        }

        /// The loss per wrong training example: `loss / (1 - accuracy)`. A healthy classifier, even one
        /// that guesses, stays near ln(classes); saturated logits from a blown-up run score 10-16.
        /// Only for a classifier that gets many examples wrong and has a loss above a nat: label
        /// smoothing or weight decay keep the loss up on a model that is right almost everywhere.
        static func errorNats(_ s: Signals, _ t: Thresholds) -> Double? {
            guard let loss = s.train?.last, loss > 1, let acc = s.trainAccuracy, acc < t.underfitAccuracy else { return nil }
            return loss / (1 - acc)
        }

        static func diverging(_ s: Signals, _ t: Thresholds) -> RawCall? {
            guard let kind = divergence(s, t) else { return nil }
            switch kind {
            case .nonFinite: return RawCall(label: .diverging, confidence: 0.99, decisive: true)
            case .explodedOverStart(let ratio):
                return RawCall(label: .diverging, confidence: scaled(ratio, from: t.explodeOverStart, to: 10), decisive: true)
            case .saturated(let nats):
                return RawCall(label: .diverging, confidence: scaled(nats, from: t.saturationNats, to: 16), decisive: true)
            case .accuracyCollapsed: return RawCall(label: .diverging, confidence: 0.8, decisive: true)
            }
        }

        // MARK: overfitting

        /// How val_loss turned: it rose clearly above its best, or it stalled above it while the train
        /// loss kept falling (the two curves parting), long enough for EarlyStopping to stop.
        enum Turn: Sendable, Equatable {
            case rose
            case stalled
        }

        /// Nil until val_loss has turned; the train loss must be lower than at the val best either way.
        static func turn(_ s: Signals, holding: Bool, _ t: Thresholds = Thresholds()) -> Turn? {
            guard let val = s.val, let train = s.train, let trainAtBest = s.trainAtValBest,
                  SeriesSignals.relative(train.recentLow, to: trainAtBest) <= -t.overfitTrainDrop else { return nil }
            guard val.sinceBest >= (holding ? 1 : t.overfitSinceBest) else { return nil }
            if val.sustainedRise >= (holding ? t.overfitHoldFraction : 1) * t.overfitRise { return .rose }
            let parted = SeriesSignals.relative(train.recentLow, to: trainAtBest) <= -t.stallTrainDrop
            let drifting = val.sustainedRise >= max(t.stallRise, t.stallRisePerEpoch * Double(val.sinceBest))
            if val.sinceBest >= t.stallEpochs && drifting && parted { return .stalled }
            return nil
        }

        static func overfitting(_ s: Signals, holding: Bool, _ t: Thresholds) -> RawCall? {
            guard turn(s, holding: holding, t) != nil, let val = s.val else { return nil }
            let rise = scaled(val.riseFromBest, from: t.overfitRise, to: 4 * t.overfitRise)
            let time = scaled(Double(val.sinceBest), from: Double(t.overfitSinceBest), to: 2 * Double(t.stallEpochs))
            return RawCall(label: .overfitting, confidence: 0.5 * rise + 0.5 * time)
        }

        // MARK: underfitting

        /// Why the model does not fit its training data, with its number for the evidence.
        enum UnderfitKind: Sendable, Equatable {
            /// Best accuracy (train or val) below the threshold, and train and val accuracy close together.
            case lowAccuracy(best: Double)
            /// No accuracy: the loss kept most of its first value.
            case barelyLearned(fractionLeft: Double)
        }

        static func underfit(_ s: Signals, _ t: Thresholds = Thresholds()) -> UnderfitKind? {
            if let bestTrain = s.bestTrainAccuracy {
                let best = max(bestTrain, s.bestValAccuracy ?? 0)
                let gap = bestTrain - (s.bestValAccuracy ?? bestTrain)
                return best < t.underfitAccuracy && gap < t.generalizationGap ? .lowAccuracy(best: best) : nil
            }
            guard let train = s.train, let left = lossLeft(train) else { return nil }
            let valLeft = s.val.flatMap(lossLeft) ?? left
            return min(left, valLeft) > t.underfitLossLeft ? .barelyLearned(fractionLeft: left) : nil
        }

        /// The best loss as a fraction of the first: how much is left after all the learning so far
        /// (nil for a loss that is not positive: its fraction means nothing).
        static func lossLeft(_ series: SeriesSignals) -> Double? {
            series.first > 0 && series.best.value >= 0 ? series.best.value / series.first : nil
        }

        static func underfitting(_ s: Signals, _ t: Thresholds) -> RawCall? {
            guard let kind = underfit(s, t) else { return nil }
            switch kind {
            case .lowAccuracy(let best):
                return RawCall(label: .underfitting, confidence: scaled(t.underfitAccuracy - best, from: 0, to: 0.3))
            case .barelyLearned(let left):
                return RawCall(label: .underfitting, confidence: scaled(left, from: t.underfitLossLeft, to: 1))
            }
        }

        // MARK: fit

        static func stillFalling(_ s: Signals, _ t: Thresholds = Thresholds()) -> Bool {
            guard let train = s.train, train.logSlope < t.stillFallingSlope else { return false }
            guard let val = s.val else { return true }
            return val.sinceBest <= 1 && val.logSlope < t.stillFallingSlope / 2
        }

        static func fit(_ s: Signals, _ t: Thresholds) -> RawCall {
            guard let val = s.val else { return RawCall(label: .fit, confidence: 0.5) }
            let nearBest = 1 - fraction(val.riseFromBest, from: 0, to: t.overfitRise)
            return RawCall(label: .fit, confidence: 0.5 + 0.4 * nearBest)
        }

        /// Maps `x` from [lo, hi] onto [0.5, 0.95], clamped: a margin just past a threshold is a coin
        /// flip made slightly better, a wide one is as sure as curves get.
        static func scaled(_ x: Double, from lo: Double, to hi: Double) -> Double {
            0.5 + 0.45 * fraction(x, from: lo, to: hi)
        }

        /// Where `x` lies between `lo` and `hi`, clamped to 0...1.
        static func fraction(_ x: Double, from lo: Double, to hi: Double) -> Double {
            guard hi > lo, !x.isNaN else { return 0 }
            return min(1, max(0, (x - lo) / (hi - lo)))
        }
    }

    /// The old replay: two epochs in a row must agree, or one decisive call.
    static func history(_ run: Run) -> [FitLabel] {
        let curves = Curves(run)
        let t = Thresholds()
        var out: [(raw: RawCall, label: FitLabel, since: Int, shownFor: Int)] = []
        var running = RunningSignals(curves)
        for i in 0..<curves.count {
            running.add()
            let previous = out.last
            let raw = Rules.call(running.signals, current: previous?.label ?? .tooEarly, t)
            var label = FitLabel.tooEarly
            var since = 0
            if let previous {
                if raw.label == previous.label { (label, since) = (previous.label, previous.since) }
                else if raw.decisive && (raw.label == .diverging || previous.shownFor >= 2) { (label, since) = (raw.label, i) }
                else if raw.label == previous.raw.label { (label, since) = (raw.label, i - 1) }
                else { (label, since) = (previous.label, previous.since) }
            } else if raw.decisive { label = raw.label }
            let shownFor = label == previous?.label ? (previous?.shownFor ?? 0) + 1 : 1
            out.append((raw, label, since, shownFor))
        }
        return out.map(\.label)
    }
}
extension Baseline.Signals {
    /// The signals at the last record of `curves`.
    init(_ curves: Baseline.Curves, window: Int = 5) {
        var running = Baseline.RunningSignals(curves, window: window)
        while running.next < curves.count { running.add() }
        self = running.signals
    }
}
extension Baseline.SeriesSignals {
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
