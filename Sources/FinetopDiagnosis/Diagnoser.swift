import FinetopCore

/// One epoch of the replay: what the rules said then, and the label in force after hysteresis.
public struct TimelineEntry: Sendable, Equatable {
    public var epoch: Int
    public var raw: RawCall
    public var label: FitLabel
    /// Record index where `label` began (the first of the epochs that agreed on it).
    public var sinceIndex: Int
    /// How many epochs in a row `label` has been shown, this one included.
    public var shownFor: Int
    /// How many epochs in a row the rules have said `raw.label`, this one included.
    public var rawFor: Int = 1
    /// Going to `raw.label` needs a patience of raw calls: it was shown earlier in the run, or it
    /// would clear an overfitting or underfitting call.
    public var rawNeedsPatience: Bool = false
}

/// Labels a run from its curves, epoch by epoch, as the dashboard would have seen it grow.
public enum Diagnoser {
    public static func diagnose(_ run: Run) -> DiagnosisReport {
        diagnose(run, thresholds: Thresholds())
    }

    /// `target`, when not empty, overrides the `target` in the run's hparams.
    public static func diagnose(_ run: Run, thresholds t: Thresholds, target: Target = Target()) -> DiagnosisReport {
        let curves = Curves(run, target: target)
        let timeline = replay(curves, t, finished: isFinished(run))
        var facts = RunFacts(run)
        facts.learning = LearningSummary(run, label: timeline.last?.label ?? .tooEarly)
        let current = diagnosis(curves, timeline, facts, t)
        return DiagnosisReport(current: current, history: timeline.map { ($0.epoch, $0.label) })
    }

    public static func diagnose(_ run: Run, target: Target) -> DiagnosisReport {
        diagnose(run, thresholds: Thresholds(), target: target)
    }

    /// A run that will get no more epochs: it ended, reached its planned epochs, or is a log another
    /// tool wrote (read whole, view only). Its last epoch needs no second one to confirm a label.
    static func isFinished(_ run: Run) -> Bool {
        if run.end != nil || !run.format.acceptsControl { return true }
        if let planned = run.info?.hparams.epochs, planned > 0, run.epochs.count >= planned { return true }
        return false
    }

    /// Runs the rules on every prefix of the curves and applies hysteresis: a label changes only
    /// when two epochs in a row agree on the new one, or on decisive evidence (a NaN or exploding
    /// loss; a clear new best val_loss ends overfitting). A label already shown earlier in the run
    /// comes back, and an overfitting or underfitting call is cleared, only when the rules have
    /// pointed elsewhere for `returnPatience` epochs in a row (Keras EarlyStopping's patience): the
    /// evidence for the label in force must have been absent that long, so a noisy curve does not
    /// go X→Y→X. The rules themselves hold a label on weaker evidence than it took to enter it. In a
    /// finished run the last epoch's call stands alone, except to undo a label that way.
    public static func replay(_ curves: Curves, _ t: Thresholds = Thresholds(), finished: Bool = false) -> [TimelineEntry] {
        var out: [TimelineEntry] = []
        out.reserveCapacity(curves.count)
        var running = RunningSignals(curves)
        var shown: Set<FitLabel> = []
        for i in 0..<curves.count {
            running.add()
            let previous = out.last
            let last = finished && i == curves.count - 1
            let raw = Rules.call(running.signals, current: previous?.label ?? .tooEarly, t, finished: last)
            let rawFor = raw.label == previous?.raw.label ? (previous?.rawFor ?? 0) + 1 : 1
            let returns = raw.label != .tooEarly && raw.label != previous?.label
                && (shown.contains(raw.label) || previous?.label == .overfitting || previous?.label == .underfitting)
            var (label, since) = settle(previous, raw: raw, index: i, rawFor: rawFor, returns: returns, patience: t.returnPatience)
            // A finished log's last call stands alone for a label it could enter; not to undo one held on its evidence.
            if last && !returns && raw.label != .tooEarly && raw.label != label { (label, since) = (raw.label, i) }
            let shownFor = label == previous?.label ? (previous?.shownFor ?? 0) + 1 : 1
            shown.insert(label)
            out.append(TimelineEntry(epoch: curves.epochNumbers[i], raw: raw, label: label, sinceIndex: since, shownFor: shownFor,
                                     rawFor: rawFor, rawNeedsPatience: returns))
        }
        return out
    }

    /// A decisive call switches at once, except that a label just shown stays one more epoch
    /// unless the run is diverging: two epochs is the shortest any label is shown. A change that
    /// `returns` (to a label shown before, or clearing a problem) takes `patience` raw calls in a
    /// row; any other two.
    static func settle(_ previous: TimelineEntry?, raw: RawCall, index: Int, rawFor: Int = 1, returns: Bool = false,
                       patience: Int = 2) -> (FitLabel, Int) {
        guard let previous else { return (raw.decisive ? raw.label : .tooEarly, 0) }
        if raw.label == previous.label { return (previous.label, previous.sinceIndex) }
        if raw.decisive && (raw.label == .diverging || previous.shownFor >= 2) { return (raw.label, index) }
        if returns {
            return rawFor >= max(2, patience) ? (raw.label, index - rawFor + 1) : (previous.label, previous.sinceIndex)
        }
        if raw.label == previous.raw.label { return (raw.label, index - 1) }
        return (previous.label, previous.sinceIndex)
    }

    static func diagnosis(_ curves: Curves, _ timeline: [TimelineEntry], _ facts: RunFacts, _ t: Thresholds) -> Diagnosis {
        let signals = Signals(curves)
        guard let last = timeline.last else {
            return Diagnosis(label: .tooEarly, sinceEpoch: 0, confidence: 0, epochs: 0,
                             evidence: Evidence.sentences(for: .tooEarly, signals, t), suggestions: [])
        }
        var evidence = Evidence.sentences(for: last.label, signals, t)
        evidence += LearningEvidence.sentences(for: last.label, facts.learning, signals)
        var confidence = last.raw.confidence
        if last.raw.label != last.label {
            confidence = 0.4
            let more = last.rawNeedsPatience ? max(1, max(2, t.returnPatience) - last.rawFor) : 1
            evidence.append("the latest epoch points to \(last.raw.label.rawValue); \(more == 1 ? "one more" : "\(more) more") like it \(more == 1 ? "changes" : "change") the label")
        }
        return Diagnosis(label: last.label, sinceEpoch: signals.epoch(last.sinceIndex), confidence: confidence,
                         epochs: curves.count, evidence: evidence,
                         suggestions: Suggestions.ranked(for: last.label, signals, facts, t), learning: facts.learning)
    }
}
