#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The numbers the rules compare against, each with the convention it comes from. None is fitted
/// to a corpus.
public struct Thresholds: Sendable, Equatable {
    /// Fewer epochs than this say too little while the run is live (one epoch's average already mixes learning into it).
    public var minEpochs = 3
    /// A finished run gets a label from this many epochs on (a three-epoch fine-tune is a whole run).
    public var minEpochsFinished = 2
    /// A train loss above this multiple of its best has exploded (the best, not the first: a run that
    /// blows up inside epoch 1 logs the explosion as its first value).
    public var explodeOverBest = 2.0
    /// A negative loss this many times its start in size, and at least 1, is a broken objective running away.
    public var runawayNegative = 10.0
    /// Errors made with the true class at probability below e^-9.2 ≈ 1e-4 on average are saturated
    /// outputs (only when the train loss has also stopped improving: label smoothing keeps a healthy loss up).
    public var saturationNats = 9.2
    /// A train accuracy that had reached at least this and then halved has collapsed (below it,
    /// halving can be noise around chance).
    public var collapseFromAccuracy = 0.4
    /// "At chance": a train loss within this fraction of ln(classes).
    public var chanceBand = 0.10
    /// A val_loss turn: the level is at least this far above its best (deepchecks' 0.1 degradation) ...
    public var overfitRise = 0.10
    /// ... and more than this many times the curve's own noise above it (a 2σ test) ...
    public var noiseMultiple = 2.0
    /// ... rising as a trend: Mann-Kendall z above this after the best (one-sided 5% level) ...
    public var trendZ = 1.645
    /// ... at least this many epochs after the best (a minimum in the last epochs is not a turn yet).
    public var overfitSinceBest = 2
    /// A label already shown earlier in the run comes back only after the rules point to it this many
    /// epochs in a row (Keras EarlyStopping's patience, the anchor the onset is scored against).
    public var returnPatience = 5
    /// Once overfitting, the label holds while the rise stays above this fraction of the entry thresholds.
    public var holdFraction = 0.5
    /// Train accuracy this far above val accuracy (10 points absolute, and 10% relative: deepchecks'
    /// train-test degradation, Ng's variance) with val no longer improving is overfitting without a turn.
    public var generalizationGap = 0.10
    /// Without accuracy: val_loss at least this multiple of the train loss, the ratio widening.
    public var lossGapRatio = 2.0
    /// A plateau at high error: best train accuracy at or below this (three examples in ten wrong) ...
    public var underfitAccuracy = 0.70
    /// ... or, without accuracy, a train loss at least this fraction of the chance-level loss ...
    public var underfitChanceFraction = 0.5
    /// ... or a loss that kept at least this fraction of its first value (barely moved).
    public var underfitLossLeft = 0.8
    /// Short of a target by at least this much (5 points of accuracy, or 5% of a target loss: half
    /// the 10-point gap convention) before the avoidable bias is called underfitting.
    public var targetShortfall = 0.05
    /// Falling faster than this per epoch (log scale) over the window is "still learning" when the
    /// noise is not known yet.
    public var stillFallingSlope = -0.02

    public init() {}
}

/// A label for one epoch before hysteresis, with how sure it is.
public struct RawCall: Sendable, Equatable {
    public var label: FitLabel
    public var confidence: Double
    /// Evidence that needs no second epoch to change the label: a NaN, an explosion that held two
    /// epochs, or a new best val_loss while the label says overfitting by a turn.
    public var decisive: Bool

    public init(label: FitLabel, confidence: Double, decisive: Bool = false) {
        self.label = label
        self.confidence = confidence
        self.decisive = decisive
    }
}

/// The per-epoch rules: pure functions of the signals at that epoch and of the label in force
/// (a label is left only on clear evidence: hysteresis on the evidence, not on epochs).
public enum Rules {
    /// The label the signals point to at this epoch, first match wins: diverging, too early,
    /// overfitting, underfitting, fit.
    public static func call(_ s: Signals, current: FitLabel, _ t: Thresholds = Thresholds(), finished: Bool = false) -> RawCall {
        if let c = diverging(s, t) { return c }
        if s.count < (finished ? t.minEpochsFinished : t.minEpochs) { return RawCall(label: .tooEarly, confidence: 0) }
        if let c = overfitting(s, holding: current == .overfitting, t) { return c }
        var c = underfitting(s, holding: current == .underfitting, t) ?? fit(s, t)
        c.decisive = current == .overfitting && clearNewBest(s, t) && gap(s, holding: true, t) == nil
        return c
    }

    /// val_loss just made a new best that beats the best before its streak of new bests by more than
    /// twice its noise (Keras's `min_delta`, set from the curve): a new best by a hair on a noisy
    /// level does not end overfitting.
    static func clearNewBest(_ s: Signals, _ t: Thresholds) -> Bool {
        guard let val = s.val, val.sinceBest == 0 else { return false }
        guard let noise = s.shape.valNoise else { return true }
        return val.improvement > t.noiseMultiple * noise
    }

    // MARK: diverging

    /// Which sign of divergence decided it, with its number for the evidence.
    public enum DivergenceKind: Sendable, Equatable {
        case nonFinite(index: Int)
        /// The train loss is this multiple of its best.
        case explodedOverStart(ratio: Double)
        case saturated(nats: Double)
        case accuracyCollapsed(from: Double, to: Double)
        /// A negative loss that ran away (a broken objective).
        case runawayNegative(from: Double, to: Double)
        /// The loss sits at ln(classes) after an explosion or after having been lower: a dead model.
        case deadAtChance(chance: Double)
    }

    public static func divergence(_ s: Signals, _ t: Thresholds = Thresholds()) -> DivergenceKind? {
        if s.latestNonFinite, let i = s.firstNonFinite { return .nonFinite(index: i) }
        guard let train = s.train, train.lastIndex == s.count - 1 else { return nil }
        if let best = s.bestTrainAccuracy, let now = s.trainAccuracy, best >= t.collapseFromAccuracy, now < best / 2,
           train.sinceBest > 0 {
            return .accuracyCollapsed(from: best, to: now)
        }
        if train.last > 0, train.best.value > 0, train.last > t.explodeOverBest * train.best.value,
           train.last - train.best.value > t.noiseMultiple * (s.shape.trainNoise ?? 0),
           gaveBackHalf(train) || s.chanceLoss.map({ train.last > $0 }) == true {
            return .explodedOverStart(ratio: train.last / train.best.value)
        }
        if train.last < 0, train.last < train.first, abs(train.last) >= t.runawayNegative * max(1, abs(train.first)) {
            return .runawayNegative(from: train.first, to: train.last)
        }
        if let chance = deadAtChance(s, t) { return .deadAtChance(chance: chance) }
        if let nats = errorNats(s, t), nats > t.saturationNats, train.sinceBest >= 2,
           s.chanceLoss.map({ train.last > $0 }) ?? true {
            return .saturated(nats: nats)
        }
        return nil
    }

    /// The loss gave back at least half of what it had learned (from its first value to its best):
    /// doubling a loss of 0.001 is a wobble of a model that fits, not an explosion.
    static func gaveBackHalf(_ train: SeriesSignals) -> Bool {
        train.first <= train.best.value || train.last - train.best.value >= 0.5 * (train.first - train.best.value)
    }

    /// Accuracy halved while the train loss keeps making new bests: the loss is being won by the
    /// regularizer (weight decay), not the data. Over-regularization, an underfit.
    static func overRegularized(_ s: Signals, _ t: Thresholds) -> (from: Double, to: Double)? {
        guard let best = s.bestTrainAccuracy, let now = s.trainAccuracy, best >= t.collapseFromAccuracy, now < best / 2,
              let train = s.train, train.sinceBest == 0 else { return nil }
        return (best, now)
    }

    /// ln(classes) when the model is dead at chance: over the last third the train loss stays within
    /// 10% of it (and accuracy near 1/classes), after having been clearly lower, or from a first
    /// value that was already an explosion. Classes come from the run, or from the accuracy a
    /// uniform guess would score when the loss matches it.
    static func deadAtChance(_ s: Signals, _ t: Thresholds) -> Double? {
        let shape = s.shape
        guard s.count >= 3, !shape.trainLastThird.isEmpty, let first = shape.trainFirst else { return nil }
        var chance = s.chanceLoss
        var classes = s.numClasses.map(Double.init)
        if chance == nil, let acc = s.trainAccuracy, acc > 0, acc <= 0.5 {
            let guess = (1 / acc).rounded()
            if guess >= 2 { chance = log(guess); classes = guess }
        }
        guard let lnC = chance, let c = classes, lnC > 0 else { return nil }
        guard shape.trainLastThird.allSatisfy({ abs($0 - lnC) <= t.chanceBand * lnC }) else { return nil }
        if let acc = s.trainAccuracy, c > 2, acc > 1 / c + 0.1 { return nil }
        let wasLower = (shape.trainLowBeforeLastThird ?? .infinity) < (1 - 2 * t.chanceBand) * lnC
        let explodedAtOnce = first > t.explodeOverBest * lnC && (s.train?.best.value ?? 0) >= (1 - t.chanceBand) * lnC
        return wasLower || explodedAtOnce ? lnC : nil
    }

    /// The loss per wrong training example: `loss / (1 - accuracy)`.
    static func errorNats(_ s: Signals, _ t: Thresholds) -> Double? {
        guard let loss = s.train?.last, loss > 1, let acc = s.trainAccuracy, acc < 0.9 else { return nil }
        return loss / (1 - acc)
    }

    static func diverging(_ s: Signals, _ t: Thresholds) -> RawCall? {
        guard let kind = divergence(s, t) else { return nil }
        switch kind {
        case .nonFinite: return RawCall(label: .diverging, confidence: 0.99, decisive: true)
        case .explodedOverStart(let ratio):
            // One epoch over 2× its best may be a spike; two in a row is an explosion.
            let held = s.shape.trainLastThird.suffix(2).count == 2
                && s.shape.trainLastThird.suffix(2).allSatisfy { $0 > t.explodeOverBest * (s.train?.best.value ?? .infinity) }
            return RawCall(label: .diverging, confidence: scaled(ratio, from: t.explodeOverBest, to: 10), decisive: held)
        case .runawayNegative: return RawCall(label: .diverging, confidence: 0.9, decisive: true)
        case .deadAtChance: return RawCall(label: .diverging, confidence: 0.8)
        case .saturated(let nats):
            return RawCall(label: .diverging, confidence: scaled(nats, from: t.saturationNats, to: 16))
        case .accuracyCollapsed: return RawCall(label: .diverging, confidence: 0.8, decisive: true)
        }
    }

    // MARK: overfitting

    /// How the run overfits: val_loss turned (a trend up, larger than its noise, at least 10%), or
    /// train and val parted without a turn (an accuracy gap, or val_loss far above the train loss).
    public enum Turn: Sendable, Equatable {
        case rose
        case stalled
        case accuracyGap
        case lossGap
    }

    /// Nil until val_loss has turned; the train loss must be lower than at the val best.
    public static func turn(_ s: Signals, holding: Bool, _ t: Thresholds = Thresholds()) -> Turn? {
        guard let val = s.val, let train = s.train, let trainAtBest = s.trainAtValBest,
              let level = s.shape.valLevel else { return nil }
        // Entering needs the curves parting (train still falling below where it was at the val best);
        // a turn already shown is not undone by a noisy train loss.
        guard holding || train.recentLow < trainAtBest else { return nil }
        let share = holding ? t.holdFraction : 1
        // Once overfitting, a new best by a hair does not end it: the level must come back (below).
        guard holding || val.sinceBest >= t.overfitSinceBest else { return nil }
        let bestLevel = s.shape.valBestLevel ?? val.best.value
        let rise = SeriesSignals.relative(level, to: bestLevel)
        guard rise >= share * t.overfitRise else { return nil }
        if let noise = s.shape.valNoise, level - bestLevel <= share * t.noiseMultiple * noise { return nil }
        if !holding {
            // A trend, not a wobble: Mann-Kendall at the 5% level once the noise is known, else a rising line.
            if s.shape.valNoise != nil, let z = s.shape.valTrendZ {
                guard z > t.trendZ else { return nil }
            } else if !s.shape.valRoseEveryEpochSinceBest {
                // Too few epochs to know the noise: only a rise at every epoch since the best is a trend.
                return nil
            }
        }
        return .rose
    }

    /// Train and val parted without a turn, with val no longer improving.
    public static func gap(_ s: Signals, holding: Bool, _ t: Thresholds = Thresholds()) -> Turn? {
        // A validation curve is val_loss or val accuracy: some logs carry only the accuracy.
        guard s.hasValidation || s.valAccuracy != nil, !s.shape.valImproving else { return nil }
        let share = holding ? t.holdFraction : 1
        if let gap = s.shape.accuracyGap, let train = s.shape.meanTrainAccuracy {
            return gap >= share * t.generalizationGap && gap / max(train, 1e-9) >= share * t.generalizationGap ? .accuracyGap : nil
        }
        // Losses only: val_loss far above the train loss, widening, and no new best val_loss in the last third.
        guard let ratio = s.shape.lossRatio, !s.shape.valNewBestLately else { return nil }
        let needed = holding ? 1 + share * (t.lossGapRatio - 1) : t.lossGapRatio
        let widening = holding || ratio > (s.shape.lossRatioEarlier ?? .infinity)
        return ratio >= needed && widening ? .lossGap : nil
    }

    /// The way the run overfits now, if it does.
    public static func overfit(_ s: Signals, holding: Bool, _ t: Thresholds = Thresholds()) -> Turn? {
        turn(s, holding: holding, t) ?? gap(s, holding: holding, t)
    }

    static func overfitting(_ s: Signals, holding: Bool, _ t: Thresholds) -> RawCall? {
        guard let kind = overfit(s, holding: holding, t) else { return nil }
        switch kind {
        case .rose, .stalled:
            guard let val = s.val else { return nil }
            let rise = scaled(val.riseFromBest, from: t.overfitRise, to: 4 * t.overfitRise)
            let time = scaled(Double(val.sinceBest), from: Double(t.overfitSinceBest), to: 10)
            return RawCall(label: .overfitting, confidence: 0.5 * rise + 0.5 * time)
        case .accuracyGap:
            return RawCall(label: .overfitting, confidence: scaled(s.shape.accuracyGap ?? 0, from: t.generalizationGap, to: 0.3))
        case .lossGap:
            return RawCall(label: .overfitting, confidence: scaled(s.shape.lossRatio ?? 0, from: t.lossGapRatio, to: 4))
        }
    }

    // MARK: underfitting

    /// Why the model does not fit its training data, with its number for the evidence.
    public enum UnderfitKind: Sendable, Equatable {
        /// The train loss plateaued with the best train accuracy this low.
        case lowAccuracy(best: Double)
        /// No accuracy: the train loss plateaued keeping this fraction of its first value.
        case barelyLearned(fractionLeft: Double)
        /// No accuracy: the train loss plateaued at this fraction of the chance-level loss ln(classes).
        case nearChance(fractionOfChance: Double)
        /// Below the user's target: avoidable bias (target minus train) larger than the variance (train minus val).
        case belowTarget(bias: Double, variance: Double)
        /// Accuracy collapsed while the loss kept falling: the regularizer wins over the data.
        case overRegularized(from: Double, to: Double)
    }

    public static func underfit(_ s: Signals, _ t: Thresholds = Thresholds()) -> UnderfitKind? {
        underfit(s, holding: false, t)
    }

    public static func underfit(_ s: Signals, holding: Bool, _ t: Thresholds = Thresholds()) -> UnderfitKind? {
        if let o = overRegularized(s, t) { return .overRegularized(from: o.from, to: o.to) }
        // A plateau: held with the noise test alone once underfitting (not on the 5% rule).
        // Entering needs both signs of a plateau; leaving needs both broken (the loss 5% below its
        // mid-run value AND falling beyond twice its noise over the last third).
        let plateau = s.shape.trainPlateau || (holding && (s.shape.trainBarelyLower || (s.shape.trainChangeLastThird ?? -1) >= -t.noiseMultiple * (s.shape.trainNoise ?? 0)))
        // Every layer that trains barely moves (layer_stats) and the loss is barely below its
        // mid-run value: a fall too slow to matter, however clean, is not learning.
        let stalled = s.layersBarelyMove && s.shape.trainBarelyLower
        guard plateau || stalled else { return nil }
        // A model whose val_loss still improves (beyond its noise, and clearly below its mid-run value
        // by the plateau's own 5%) is learning (issue 17 (3): a run still improving is fit, "train
        // longer"), whatever its train loss says (some logs repeat a train loss computed less often).
        if !holding && !stalled && s.shape.valImproving && s.shape.valClearlyLower { return nil }
        if let target = s.target.accuracy, let train = s.bestTrainAccuracy {
            let variance = max(0, train - (s.bestValAccuracy ?? train))
            let bias = target - train
            return bias >= t.targetShortfall && bias > variance ? .belowTarget(bias: bias, variance: variance) : nil
        }
        if let target = s.target.loss, let train = s.train {
            let variance = max(0, (s.val?.best.value ?? train.best.value) - train.best.value)
            let bias = train.best.value - target
            return bias >= t.targetShortfall * abs(target) && bias > variance ? .belowTarget(bias: bias, variance: variance) : nil
        }
        let margin = holding ? t.holdFraction * 0.1 : 0
        if let best = s.bestTrainAccuracy {
            return best <= t.underfitAccuracy + margin ? .lowAccuracy(best: best) : nil
        }
        guard let train = s.train else { return nil }
        if let lnC = s.chanceLoss, train.recentLow >= (t.underfitChanceFraction - margin) * lnC {
            return .nearChance(fractionOfChance: train.recentLow / lnC)
        }
        if let left = lossLeft(train), left >= t.underfitLossLeft - margin {
            return .barelyLearned(fractionLeft: left)
        }
        return nil
    }

    /// The best loss as a fraction of the first: how much is left after all the learning so far
    /// (nil for a loss that is not positive: its fraction means nothing).
    static func lossLeft(_ series: SeriesSignals) -> Double? {
        series.first > 0 && series.best.value >= 0 ? series.best.value / series.first : nil
    }

    static func underfitting(_ s: Signals, holding: Bool, _ t: Thresholds) -> RawCall? {
        guard let kind = underfit(s, holding: holding, t) else { return nil }
        switch kind {
        case .lowAccuracy(let best):
            return RawCall(label: .underfitting, confidence: scaled(t.underfitAccuracy - best, from: 0, to: 0.3))
        case .barelyLearned(let left):
            return RawCall(label: .underfitting, confidence: scaled(left, from: t.underfitLossLeft, to: 1))
        case .nearChance(let f):
            return RawCall(label: .underfitting, confidence: scaled(f, from: t.underfitChanceFraction, to: 1))
        case .belowTarget(let bias, let variance):
            return RawCall(label: .underfitting, confidence: scaled(bias - variance, from: 0, to: 0.2))
        case .overRegularized:
            return RawCall(label: .underfitting, confidence: 0.7)
        }
    }

    // MARK: fit

    /// The train loss still falls clearly (beyond twice its noise over the last third, or 2% an
    /// epoch while the noise is unknown), and val_loss, if any, made a new best in the last third.
    public static func stillFalling(_ s: Signals, _ t: Thresholds = Thresholds()) -> Bool {
        guard let train = s.train else { return false }
        let falling: Bool
        if let noise = s.shape.trainNoise, let change = s.shape.trainChangeLastThird {
            falling = change < -t.noiseMultiple * noise && train.logSlope < 0
        } else {
            falling = train.logSlope < t.stillFallingSlope
        }
        guard falling else { return false }
        guard let val = s.val else { return true }
        return val.sinceBest < Shape.third(s.count)
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
