import FinetopCore

/// What the run's `layer_stats` say at its latest epoch, gathered once for the evidence, the
/// suggestions and `--json` (issue 15): which trainable layers barely move, which moved far above
/// the band, whether the layers unfrozen last learn, and which frozen block comes next.
public struct LearningSummary: Sendable, Equatable {
    /// Steps per epoch the band was set for.
    public var stepsPerEpoch: Int
    /// Epoch ratios below this: barely moving; above `farAbove`: far above the band.
    public var barelyMovingBelow: Double
    public var farAbove: Double
    /// Trainable layers whose latest ratio, logged while trainable, is below the band (or 0), model order.
    public var barelyMoving: [String] = []
    /// The largest latest ratio among the trainable layers (nil when none was logged).
    public var largestTrainableRatio: Double?
    /// Layers whose ratio was far above the band at some logged epoch: the largest, with its epoch (0-based).
    public var farAboveBand: [(name: String, ratio: Double, epoch: Int)] = []
    /// Trainable layers that moved before and whose latest ratio is exactly 0: nothing reaches them any more.
    public var stoppedMoving: [String] = []
    /// The layers the latest applied control revision unfroze, and whether they learn.
    public var lastUnfrozen: [String] = []
    public var unfrozen = UnfreezeOutcome()
    /// The frozen block with weights nearest below the trainable ones.
    public var nextBlock: LayerBlock?

    public static func == (a: LearningSummary, b: LearningSummary) -> Bool {
        a.stepsPerEpoch == b.stepsPerEpoch && a.barelyMoving == b.barelyMoving
            && a.largestTrainableRatio == b.largestTrainableRatio && a.stoppedMoving == b.stoppedMoving
            && a.farAboveBand.map(\.name) == b.farAboveBand.map(\.name) && a.farAboveBand.map(\.ratio) == b.farAboveBand.map(\.ratio)
            && a.lastUnfrozen == b.lastUnfrozen && a.unfrozen == b.unfrozen && a.nextBlock == b.nextBlock
    }

    /// Nil for a run without `layer_stats` or without a model line. The scans of every logged epoch
    /// (`farAboveBand`, `stoppedMoving`) are made only for a diverging run, where they are evidence.
    public init?(_ run: Run, label: FitLabel) {
        let stats = run.layerStats
        // Only true update ratios: a lower bound (weight histograms' norm change) proves no "barely moves".
        guard !stats.isEmpty, stats.measure == .updateRatio, let model = run.model else { return nil }
        let band = LearningBand(run: run)
        stepsPerEpoch = band.stepsPerEpoch
        barelyMovingBelow = band.barelyMoving
        farAbove = band.farAbove
        barelyMoving = LearningSignal.barelyMoving(stats, model, band: band)
        var largest: Double?
        for layer in model.layers where layer.hasWeights && !LayerStats.isFrozen(layer) {
            guard stats.wasFrozenWhenLogged(layer.name) == false, let r = stats.latest(layer.name)?.ratio, !r.isNaN else { continue }
            largest = max(largest ?? 0, r)
            if label == .diverging, r == 0, stats.recentRatios(layer.name, epochs: stats.epochs.count).contains(where: { ($0 ?? 0) > 0 }) {
                stoppedMoving.append(layer.name)
            }
        }
        largestTrainableRatio = largest
        // Far above: the peak over the run, since a blow-up often kills the layers it hit (ratio 0 after).
        for name in stats.names where label == .diverging {
            let column = stats.recentRatios(name, epochs: stats.epochs.count)
            var peak: (Double, Int)?
            for (slot, r) in column.enumerated() {
                guard let r, r > band.farAbove, r > (peak?.0 ?? 0) else { continue }
                peak = (r, stats.epochs[slot])
            }
            if let peak { farAboveBand.append((name, peak.0, peak.1)) }
        }
        farAboveBand.sort { $0.ratio > $1.ratio }
        lastUnfrozen = LearningSignal.lastUnfrozen(run)
        unfrozen = LearningSignal.outcome(of: lastUnfrozen, stats, band: band)
        nextBlock = LearningSignal.nextBlockToUnfreeze(model)
    }

    /// Every trainable layer that was measured barely moves.
    var allTrainableBarelyMove: Bool { !barelyMoving.isEmpty && (largestTrainableRatio ?? 0) < barelyMovingBelow }

    /// `"learning": {...}` of `finetop diagnose --json`.
    public var json: JSONValue {
        func names(_ list: [String]) -> JSONValue { .array(list.map { .string($0) }) }
        return .object([
            ("steps_per_epoch", JSONValue(stepsPerEpoch)),
            ("band", .object([("barely_moving_below", .number(barelyMovingBelow)), ("far_above", .number(farAbove))])),
            ("barely_moving", names(barelyMoving)),
            ("far_above_band", .array(farAboveBand.map { .object([("layer", .string($0.name)), ("ratio", .number($0.ratio)),
                                                                   ("epoch", JSONValue($0.epoch))]) })),
            ("stopped_moving", names(stoppedMoving)),
            ("last_unfrozen", .object([("layers", names(lastUnfrozen)), ("learning", names(unfrozen.learning)),
                                       ("not_learning", names(unfrozen.notLearning)),
                                       ("not_yet_measured", names(unfrozen.notYetMeasured))])),
            ("next_block_to_unfreeze", nextBlock.map { .string($0.name) } ?? .null),
        ])
    }
}

/// The sentences and advice the learning signal adds to a label.
enum LearningEvidence {
    /// "head_dense, head_out" or "a, b … (12 layers)".
    static func list(_ names: [String], most: Int = 3) -> String {
        names.count <= most ? names.joined(separator: ", ")
            : names.prefix(most).joined(separator: ", ") + " … (\(names.count) layers)"
    }

    static func bandNote(_ l: LearningSummary) -> String {
        "band at \(l.stepsPerEpoch) step\(l.stepsPerEpoch == 1 ? "" : "s") an epoch: \(NumberText.value(l.barelyMovingBelow)) to "
            + "\(NumberText.value(l.farAbove)), from CS231n's ~1e-3 of the weights a step"
    }

    static func sentences(for label: FitLabel, _ l: LearningSummary?, _ s: Signals) -> [String] {
        guard let l else { return [] }
        var out: [String] = []
        switch label {
        case .underfitting, .fit:
            if !l.barelyMoving.isEmpty {
                let all = l.allTrainableBarelyMove
                let largest = l.largestTrainableRatio.map { ", the largest update ratio \(NumberText.value($0)) an epoch" } ?? ""
                out.append((all ? "every trainable layer barely moves" : "\(l.barelyMoving.count) trainable layers barely move (\(list(l.barelyMoving)))")
                    + largest + " (\(bandNote(l))): the learning rate is too low for \(all ? "them" : "those layers")")
            }
        case .diverging:
            if let top = l.farAboveBand.first {
                let others = l.farAboveBand.count > 1 ? " and \(l.farAboveBand.count - 1) more" : ""
                out.append("\(top.name)\(others) moved far above the band: \(NumberText.value(top.ratio))× its own size in epoch "
                    + "\(s.shown(top.epoch)) (\(bandNote(l))): the learning rate is too high")
            }
            if !l.stoppedMoving.isEmpty {
                out.append("\(list(l.stoppedMoving)) stopped moving (update ratio 0) though trainable: no gradient reaches "
                    + "\(l.stoppedMoving.count == 1 ? "it" : "them") any more (dead units)")
            }
        case .overfitting, .tooEarly:
            break
        }
        if let unfrozen = unfrozenSentence(l) { out.append(unfrozen) }
        return out
    }

    /// "the 2 layers you unfroze last (a, b) learn: …" / "do not learn" / "are not measured yet".
    static func unfrozenSentence(_ l: LearningSummary) -> String? {
        guard !l.lastUnfrozen.isEmpty else { return nil }
        let n = l.lastUnfrozen.count
        let which = n == 1 ? "the layer you unfroze last (\(l.lastUnfrozen[0]))" : "the \(n) layers you unfroze last (\(list(l.lastUnfrozen)))"
        let o = l.unfrozen
        if o.notYetMeasured.count == n { return which + ": no update ratio since the toggle yet, the next epoch tells whether \(n == 1 ? "it learns" : "they learn")" }
        if o.learning.count == n { return which + (n == 1 ? " learns" : " learn") + ": update ratios in the band" }
        if o.notLearning.count == n { return which + (n == 1 ? " does not learn" : " do not learn") + ": update ratios below the band" }
        return which + ": \(o.learning.count) learn, \(o.notLearning.count) do not (\(list(o.notLearning))), "
            + "\(o.notYetMeasured.count) not measured yet"
    }

    /// The advice the learning signal adds, inserted in `out` by label.
    static func adjust(_ out: inout [Suggestion], for label: FitLabel, _ l: LearningSummary?, _ facts: RunFacts) {
        guard let l else { return }
        switch label {
        case .underfitting, .fit:
            if !l.barelyMoving.isEmpty, label == .underfitting || l.allTrainableBarelyMove {
                out.insert(raiseRate(l, facts), at: 0)
            } else if !l.unfrozen.notLearning.isEmpty, l.unfrozen.notLearning.count == l.lastUnfrozen.count {
                out.insert(raiseRate(l, facts, only: l.unfrozen.notLearning), at: 0)
            }
            if let next = unfreezeNextBlock(l, facts) {
                if let k = out.firstIndex(where: { $0.id.hasPrefix("unfreeze") }) {
                    var next = next
                    if out[k].id == "unfreeze_lower_lr" {
                        next.text += "; recompile with a 10× smaller learning rate" + Suggestions.rateChange(facts)
                    }
                    out[k] = next
                } else {
                    out.append(next)
                }
            }
        case .diverging:
            if let top = l.farAboveBand.first, let k = out.firstIndex(where: { $0.id == "lower_learning_rate" }) {
                out[k].text += " (\(top.name) moved \(NumberText.value(top.ratio))× its own size in one epoch)"
            }
        case .overfitting, .tooEarly:
            break
        }
    }

    /// "raise SGD's learning rate to 0.0001 (10× the current 1e-05)", an action for `a`; for the
    /// layers just unfrozen alone, the framework's way to give them a higher rate.
    static func raiseRate(_ l: LearningSummary, _ facts: RunFacts, only: [String] = []) -> Suggestion {
        let change = facts.currentRate.flatMap { $0 > 0 ? ": \(NumberText.rate($0)) → \(NumberText.rate($0 * 10))" : nil } ?? ""
        if only.isEmpty {
            var raise = RateAdvice.suggestion(id: "raise_learning_rate", facts, factor: 10)
            raise.text += ": the layers that train barely move"
            return raise
        }
        let how: String
        switch facts.framework {
        case .keras, .unknown: how = "Keras has one rate per optimizer: raise learning_rate\(change)"
        case .pytorch, .lightning: how = "give them their own param group with a 10× higher lr in the optimizer"
        case .huggingFace: how = "pass a custom optimizer with a param group for them at a 10× higher lr (Trainer(optimizers=(opt, None)))"
        }
        return Suggestion(id: "raise_unfrozen_rate", text: "the layers you unfroze (\(list(only))) barely move: \(how)")
    }

    /// The next frozen block, when the layers that train learn (unfreezing more below layers that do
    /// not move helps nothing): its rows with weights, flags the dashboard can apply.
    static func unfreezeNextBlock(_ l: LearningSummary, _ facts: RunFacts) -> Suggestion? {
        guard let block = l.nextBlock, let model = facts.model, l.barelyMoving.isEmpty, l.unfrozen.notLearning.isEmpty else { return nil }
        let rows = Array(block.rows).filter { model.isLeaf($0) && model.layers[$0].isFrozenWithWeights }
        guard !rows.isEmpty else { return nil }
        let flags = model.unfreezeFlags(rows)
        let delta = model.trainableAfter(flags) - model.totals.trainable
        let why = l.lastUnfrozen.isEmpty ? "the layers above it learn" : "the layers you unfroze last learn"
        return Suggestion(id: "unfreeze_next_block",
                          text: "unfreeze \(block.name) next (\(rows.count) layer\(rows.count == 1 ? "" : "s")): +\(KerasFormat.count(delta)) trainable params "
                              + "(\(KerasFormat.count(model.totals.trainable)) → \(KerasFormat.count(model.totals.trainable + delta))); \(why)",
                          action: .setTrainable(flags))
    }
}
