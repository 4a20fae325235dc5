/// The sentences that say why a label was given, each with the numbers that decided it.
enum Evidence {
    static func sentences(for label: FitLabel, _ s: Signals, _ t: Thresholds) -> [String] {
        var out: [String]
        switch label {
        case .tooEarly: out = tooEarly(s, t)
        case .diverging: out = diverging(s, t)
        case .overfitting: out = overfitting(s)
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
        return ["only \(s.count) \(plural) so far; a label needs \(t.minEpochs) and one more to confirm it"]
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
            return ["train accuracy collapsed from \(NumberText.value(from)) to \(NumberText.value(to))"]
        }
    }

    static func overfitting(_ s: Signals) -> [String] {
        guard let val = s.val else { return [] }
        var out = [valAboveBest(s, val) + trainFellSince(s)]
        out.append("no new best val_loss for \(val.sinceBest) epochs")
        if let gap = accuracyGap(s) { out.append(gap) }
        return out
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
        return "train \(name) \(NumberText.value(a)) vs val_\(name) \(NumberText.value(v))"
    }

    static func underfitting(_ s: Signals, _ t: Thresholds) -> [String] {
        var out: [String] = []
        switch Rules.underfit(s, t) {
        case .lowAccuracy(let best):
            let name = s.accuracyName ?? "accuracy"
            out.append("best \(name) \(NumberText.value(best)) is below \(NumberText.value(t.underfitAccuracy)): "
                + "the model still gets more than \(NumberText.percent(1 - t.underfitAccuracy)) of its own training data wrong")
        case .barelyLearned(let left):
            let first = s.train.map { NumberText.value($0.first) } ?? "?"
            out.append("best train loss is still \(NumberText.percent(left)) of its first value \(first)")
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
        return Rules.stillFalling(s, t)
            ? "train loss still falls \(slope) an epoch: more epochs would help"
            : "train loss has flattened (\(slope) an epoch): more epochs alone won't fix it"
    }

    static func valNearBest(_ s: Signals, _ val: SeriesSignals, _ t: Thresholds) -> String {
        if val.sinceBest == 0 { return "val_loss \(NumberText.value(val.last)) is its best so far" }
        let threshold = t.overfitRise
        if val.riseFromBest < threshold {
            return "val_loss \(NumberText.value(val.last)) is within \(NumberText.percent(max(0, val.riseFromBest))) "
                + "of its best \(NumberText.value(val.best.value)) at epoch \(s.shown(val.best.index))"
        }
        if Rules.turn(s, holding: false, t) != nil { return valAboveBest(s, val) + ": it turned this epoch, the next confirms it" }
        return valAboveBest(s, val) + ", not a turn yet: " + notATurn(s, val, threshold, t)
    }

    static func notATurn(_ s: Signals, _ val: SeriesSignals, _ threshold: Double, _ t: Thresholds) -> String {
        if let train = s.train, let atBest = s.trainAtValBest, SeriesSignals.relative(train.recentLow, to: atBest) > -t.overfitTrainDrop {
            return "train loss has not fallen \(NumberText.percent(t.overfitTrainDrop)) since"
        }
        if val.sinceBest < t.overfitSinceBest { return "one epoch since" }
        return "the last three epochs sit \(NumberText.percent(val.sustainedRise)) above it (a turn is \(NumberText.percent(threshold)))"
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
