/// The sentences that say why a label was given, each with the numbers that decided it.
enum Evidence {
    static func sentences(for label: FitLabel, _ s: Signals, _ t: Thresholds) -> [String] {
        var out: [String]
        switch label {
        case .tooEarly: out = tooEarly(s, t)
        case .diverging: out = diverging(s, t)
        case .overfitting: out = overfitting(s, t)
        case .underfitting: out = underfitting(s, t)
        case .fit: out = fit(s, t)
        }
        if !s.hasValidation && s.count > 0 {
            out.append("no validation loss: overfitting can't be judged without validation data")
        }
        return out
    }

    static func tooEarly(_ s: Signals, _ t: Thresholds) -> [String] {
        if s.count == 0 { return ["no epochs yet"] }
        let plural = s.count == 1 ? "epoch" : "epochs"
        return ["only \(s.count) \(plural) so far; a label needs \(t.minEpochs) and one more to confirm it (a finished run, \(t.minEpochsFinished))"]
    }

    static func diverging(_ s: Signals, _ t: Thresholds) -> [String] {
        guard let kind = Rules.divergence(s, t) else { return ["the loss was diverging and has not recovered for two epochs"] }
        switch kind {
        case .nonFinite(let i):
            return ["loss is not a number (NaN/Inf) since epoch \(s.shown(i))"]
        case .explodedOverStart(let ratio):
            let train = s.train.map { "train loss \(NumberText.value($0.last)) is \(NumberText.times(ratio)) its first value \(NumberText.value($0.first))" }
            return [train ?? "train loss is \(NumberText.times(ratio)) its first value"]
        case .saturated(let nats):
            let loss = s.train.map { NumberText.value($0.last) } ?? "?"
            let acc = s.trainAccuracy.map(NumberText.value) ?? "?"
            return ["train loss \(loss) at accuracy \(acc) is \(NumberText.value(nats)) nats per wrong example: saturated outputs, worse than guessing"]
        case .accuracyCollapsed(let from, let to):
            return ["train accuracy collapsed from \(NumberText.value(from)) to \(NumberText.value(to)) while the loss rose"]
        case .runawayNegative(let from, let to):
            return ["the loss ran away below zero, \(NumberText.value(from)) → \(NumberText.value(to)): a broken objective, not learning"]
        case .deadAtChance(let chance):
            let loss = s.train.map { NumberText.value($0.last) } ?? "?"
            return ["train loss \(loss) sits at the chance level ln(classes) = \(NumberText.value(chance)) after "
                + (s.shape.trainFirst.map { $0 > chance * 2 ? "a first epoch at \(NumberText.value($0)) (it blew up inside epoch 1)" : "having been lower" } ?? "having been lower")
                + ": the model is dead, not slow"]
        }
    }

    static func overfitting(_ s: Signals, _ t: Thresholds) -> [String] {
        guard let val = s.val else { return [] }
        switch Rules.overfit(s, holding: true, t) {
        case .accuracyGap:
            var out = [accuracyGap(s) ?? "train accuracy is well above val accuracy"]
            out.append("val has not improved in the last \(Shape.third(s.count)) epochs: the model learns its training data, not the task")
            return out
        case .lossGap:
            let ratio = s.shape.lossRatio.map(NumberText.times) ?? "?"
            return ["val_loss is \(ratio) the train loss and the gap widens while val_loss no longer improves"]
        case .rose, .stalled, nil:
            var out = [valAboveBest(s, val) + trainFellSince(s)]
            out.append("no new best val_loss for \(val.sinceBest) epochs" + noiseNote(s, val))
            if let gap = accuracyGap(s) { out.append(gap) }
            return out
        }
    }

    /// ", a rise of 0.12 against a noise of 0.01": why the rise is a trend, not a wobble.
    static func noiseNote(_ s: Signals, _ val: SeriesSignals) -> String {
        guard let noise = s.shape.valNoise, let level = s.shape.valLevel else { return "" }
        let rise = level - (s.shape.valBestLevel ?? val.best.value)
        return "; its level rose \(NumberText.value(rise)), \(NumberText.value(rise / max(noise, 1e-12)))× the curve's noise \(NumberText.value(noise))"
    }

    static func valAboveBest(_ s: Signals, _ val: SeriesSignals) -> String {
        "val_loss \(NumberText.value(val.last)) is \(NumberText.percent(val.riseFromBest)) above its best "
            + "\(NumberText.value(val.best.value)) at epoch \(s.shown(val.best.index))"
    }

    static func trainFellSince(_ s: Signals) -> String {
        guard let train = s.train, let atBest = s.trainAtValBest, atBest > 0 else { return "" }
        let fell = 1 - train.last / atBest
        return " while train loss fell \(NumberText.percent(fell)) (\(NumberText.value(atBest)) → \(NumberText.value(train.last)))"
    }

    static func accuracyGap(_ s: Signals) -> String? {
        guard let a = s.trainAccuracy, let v = s.valAccuracy else { return nil }
        let name = s.accuracyName ?? "accuracy"
        let gap = s.shape.accuracyGap.map { ", a gap of \(Int(($0 * 100).rounded())) points over the last epochs" } ?? ""
        return "train \(name) \(NumberText.value(a)) vs val_\(name) \(NumberText.value(v))" + gap
    }

    static func underfitting(_ s: Signals, _ t: Thresholds) -> [String] {
        var out: [String] = []
        switch Rules.underfit(s, holding: true, t) {
        case .lowAccuracy(let best):
            let name = s.accuracyName ?? "accuracy"
            out.append("train loss has plateaued with best \(name) \(NumberText.value(best)): "
                + "the model gets \(NumberText.percent(1 - best)) of its own training data wrong and no longer improves")
        case .barelyLearned(let left):
            let first = s.train.map { NumberText.value($0.first) } ?? "?"
            out.append("train loss has plateaued at \(NumberText.percent(left)) of its first value \(first)")
        case .nearChance(let f):
            out.append("train loss has plateaued at \(NumberText.percent(f)) of the chance-level loss ln(\(s.numClasses ?? 0))")
        case .belowTarget(let bias, let variance):
            let what = s.target.accuracy != nil ? "accuracy" : "loss"
            out.append("the train \(what) is \(NumberText.value(bias)) short of your target (avoidable bias) while train and val "
                + "differ by \(NumberText.value(variance)) (variance): bias is the larger problem")
        case .overRegularized(let from, let to):
            out.append("train accuracy fell from \(NumberText.value(from)) to \(NumberText.value(to)) while the loss kept falling: "
                + "the regularization term (weight decay) wins over the data")
        case nil:
            out.append("the model did not fit its training data for two epochs in a row")
        }
        if let above = trainAboveVal(s) { out.append(above) }
        out.append(trend(s, t))
        return out
    }

    static func trainAboveVal(_ s: Signals) -> String? {
        guard let train = s.train, let val = s.val, train.last > 1.05 * val.last else { return nil }
        return "train loss \(NumberText.value(train.last)) is above val loss \(NumberText.value(val.last)): "
            + "regularization or augmentation is holding training back"
    }

    static func trend(_ s: Signals, _ t: Thresholds) -> String {
        let slope = s.train.map { NumberText.percent(-$0.logSlope) } ?? "?"
        return Rules.stillFalling(s, t) && !s.layersBarelyMove
            ? "train loss still falls \(slope) an epoch: more epochs would help"
            : "train loss has flattened (\(slope) an epoch): more epochs alone won't fix it"
    }

    static func valNearBest(_ s: Signals, _ val: SeriesSignals, _ t: Thresholds) -> String {
        if val.sinceBest == 0 { return "val_loss \(NumberText.value(val.last)) is its best so far" }
        let threshold = t.overfitRise
        if val.riseFromBest >= threshold, let noise = s.shape.valNoise, let level = s.shape.valLevel,
           level - (s.shape.valBestLevel ?? val.best.value) <= t.noiseMultiple * noise {
            return valAboveBest(s, val) + ", within twice its noise (\(NumberText.value(noise))): a noisy plateau, not a turn"
        }
        if val.riseFromBest < threshold {
            return "val_loss \(NumberText.value(val.last)) is within \(NumberText.percent(max(0, val.riseFromBest))) "
                + "of its best \(NumberText.value(val.best.value)) at epoch \(s.shown(val.best.index))"
        }
        if Rules.turn(s, holding: false, t) != nil { return valAboveBest(s, val) + ": it turned this epoch, the next confirms it" }
        return valAboveBest(s, val) + ", not a turn yet: " + notATurn(s, val, threshold, t)
    }

    static func notATurn(_ s: Signals, _ val: SeriesSignals, _ threshold: Double, _ t: Thresholds) -> String {
        if let train = s.train, let atBest = s.trainAtValBest, train.recentLow >= atBest {
            return "train loss has not fallen since"
        }
        if val.sinceBest < t.overfitSinceBest { return "one epoch since" }
        if (s.shape.valSlopeSinceBest ?? 0) <= 0 { return "no upward trend since the best" }
        let level = s.shape.valLevel.map { SeriesSignals.relative($0, to: val.best.value) } ?? val.sustainedRise
        return "the last three epochs sit \(NumberText.percent(level)) above it (a turn is \(NumberText.percent(threshold)))"
    }

    static func trainVersusVal(_ train: Double, _ val: Double) -> String {
        train < val
            ? "train loss \(NumberText.value(train)) vs val_loss \(NumberText.value(val)) (train \(NumberText.percent(1 - train / val)) lower)"
            : "train loss \(NumberText.value(train)) is above val_loss \(NumberText.value(val)): dropout, noise and augmentation act on training only"
    }

    static func fit(_ s: Signals, _ t: Thresholds) -> [String] {
        var out: [String] = []
        if let val = s.val {
            out.append(valNearBest(s, val, t))
            if let train = s.train, val.last > 0 { out.append(trainVersusVal(train.last, val.last)) }
        } else if let train = s.train {
            out.append("train loss \(NumberText.value(train.last)) is \(NumberText.percent(train.fractionLeft)) of its first value")
        }
        if let name = s.accuracyName, let a = s.bestTrainAccuracy {
            out.append("best \(name) \(NumberText.value(a))" + (s.bestValAccuracy.map { ", best val_\(name) \(NumberText.value($0))" } ?? ""))
        }
        if Rules.stillFalling(s, t) { out.append(trend(s, t)) }
        return out
    }
}
