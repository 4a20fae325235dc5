#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The numbers the rules compare against, each with the reason it has that value.
public struct Thresholds: Sendable, Equatable {
    /// Fewer epochs than this say too little (one epoch's average already mixes learning into it).
    public var minEpochs = 3
    /// A final train loss above this multiple of the first one is "far above its start".
    public var explodeOverStart = 2.0
    /// Errors made with the true class at probability below e^-9.2 ≈ 1e-4 on average are saturated
    /// outputs, not a slow learner (uniform guessing over 10,000 classes still scores above it).
    public var saturationNats = 9.2
    /// A train accuracy that had reached at least this and then halved has collapsed (below it,
    /// halving can be noise around chance).
    public var collapseFromAccuracy = 0.4
    /// Val loss this far above its best, as the median of the last three epochs, is a turn
    /// (deepchecks' 0.05 best-to-last drop).
    public var overfitRise = 0.05
    /// Once overfitting, the label holds while the val level stays this fraction of the entry rise
    /// above its best (a small band, so it does not toggle on the threshold itself).
    public var overfitHoldFraction = 0.8
    /// Val loss must have gone this many epochs without a new best (one spike does not make a turn).
    public var overfitSinceBest = 2
    /// A slow turn: this many epochs without a new best val_loss. With the second epoch the label
    /// needs, it is said by the fifth, when Keras `EarlyStopping(patience=5)` would stop.
    public var stallEpochs = 4
    /// ... while the val level sits at least this far above its best ...
    public var stallRise = 0.01
    /// ... and has climbed at least this much per epoch since the best, on course for the 5% turn
    /// within ten epochs: a drift away from the best, not a plateau hovering just above it ...
    public var stallRisePerEpoch = 0.005
    /// ... and the train loss fell at least this much since the val best: the curves are parting.
    public var stallTrainDrop = 0.10
    /// Either way the train loss (the low of its last three epochs) must have fallen this much
    /// since the val best: a model whose
    /// train loss stands still (a learning rate decayed to nothing) is not learning the training
    /// set any better, whatever the val noise does.
    public var overfitTrainDrop = 0.05
    /// Below this accuracy on its own training data (and validation), a classifier does not fit the data:
    /// it still gets more than one example in ten wrong.
    public var underfitAccuracy = 0.90
    /// ... unless train accuracy is this far above val accuracy (deepchecks' 0.1 train-test
    /// degradation): such a model already fits its training data better than it generalizes, so
    /// its limit is generalization, not capacity, and more layers would not help.
    public var generalizationGap = 0.10
    /// Without accuracy: a loss that kept more than this fraction of its first value barely learned.
    public var underfitLossLeft = 0.6
    /// Falling faster than this per epoch (log scale) over the window is "still learning".
    public var stillFallingSlope = -0.02

    public init() {}
}

/// A label for one epoch before hysteresis, with how sure it is.
public struct RawCall: Sendable, Equatable {
    public var label: FitLabel
    public var confidence: Double
    /// Evidence that needs no second epoch to change the label: a NaN, or a new best val_loss
    /// while the label says overfitting (val has not turned, whatever it did before).
    public var decisive: Bool

    public init(label: FitLabel, confidence: Double, decisive: Bool = false) {
        self.label = label
        self.confidence = confidence
        self.decisive = decisive
    }
}

/// The per-epoch rules: pure functions of the signals at that epoch (and, for hysteresis of the
/// overfitting threshold, the label that was in force).
public enum Rules {
    /// The label the signals point to at this epoch, first match wins: diverging, too early,
    /// overfitting, underfitting, fit.
    public static func call(_ s: Signals, current: FitLabel, _ t: Thresholds = Thresholds()) -> RawCall {
        if let c = diverging(s, t) { return c }
        if s.count < t.minEpochs { return RawCall(label: .tooEarly, confidence: 0) }
        if let c = overfitting(s, holding: current == .overfitting, t) { return c }
        var c = underfitting(s, t) ?? fit(s, t)
        c.decisive = current == .overfitting && s.val?.sinceBest == 0
        return c
    }

    // MARK: diverging

    /// Which sign of divergence decided it, with its number for the evidence.
    public enum DivergenceKind: Sendable, Equatable {
        case nonFinite(index: Int)
        case explodedOverStart(ratio: Double)
        case saturated(nats: Double)
        case accuracyCollapsed(from: Double, to: Double)
    }

    public static func divergence(_ s: Signals, _ t: Thresholds = Thresholds()) -> DivergenceKind? {
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
    public enum Turn: Sendable, Equatable {
        case rose
        case stalled
    }

    /// Nil until val_loss has turned; the train loss must be lower than at the val best either way.
    public static func turn(_ s: Signals, holding: Bool, _ t: Thresholds = Thresholds()) -> Turn? {
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
    public enum UnderfitKind: Sendable, Equatable {
        /// Best accuracy (train or val) below the threshold, and train and val accuracy close together.
        case lowAccuracy(best: Double)
        /// No accuracy: the loss kept most of its first value.
        case barelyLearned(fractionLeft: Double)
    }

    public static func underfit(_ s: Signals, _ t: Thresholds = Thresholds()) -> UnderfitKind? {
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

    public static func stillFalling(_ s: Signals, _ t: Thresholds = Thresholds()) -> Bool {
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
