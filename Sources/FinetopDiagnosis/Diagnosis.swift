import FinetopCore

/// What the curves say about the run at one epoch. Label strings are the ones `--json` prints.
public enum FitLabel: String, Sendable, CaseIterable {
    case tooEarly = "too_early"
    case underfitting
    case overfitting
    case fit
    case diverging
}

/// Something the dashboard can carry out for the user.
public enum SuggestedAction: Sendable, Equatable {
    /// Set these layers' trainable flags (by layer name), e.g. "unfreeze the last 10 layers".
    case setTrainable([String: Bool])
    /// Ask the job to stop (control.json `stop: true`).
    case stopJob
    /// Set the whole optimizer's learning rate (control.json `learning_rate`) to the job's current
    /// rate × `factor` (10: "raise it 10×", 0.1: "lower it 10×"). The current rate is the latest
    /// epoch line's `learning_rate` (or `lr`), else the run line's; the dashboard refuses when unknown.
    case setLearningRate(factor: Double)
}

/// One ranked piece of advice; `action` is set when the dashboard can carry it out.
public struct Suggestion: Sendable, Equatable {
    public var id: String
    public var text: String
    public var action: SuggestedAction?
    /// The learning-rate change that goes with `action` (0.1: a 10× smaller rate for what it
    /// unfreezes); nil when the action is the flags alone.
    public var rateFactor: Double?
    public init(id: String, text: String, action: SuggestedAction? = nil, rateFactor: Double? = nil) {
        self.id = id
        self.text = text
        self.action = action
        self.rateFactor = rateFactor
    }
}

/// The diagnosis at one epoch.
public struct Diagnosis: Sendable, Equatable {
    public var label: FitLabel
    /// The epoch (0-based, as in the run) where the current label began.
    public var sinceEpoch: Int
    public var confidence: Double
    /// How many epochs the diagnosis saw.
    public var epochs: Int
    /// Short sentences with the numbers that decided it.
    public var evidence: [String]
    /// Best first.
    public var suggestions: [Suggestion]
    /// What the per-layer update ratios say, for a run with `layer_stats`.
    public var learning: LearningSummary?

    public init(label: FitLabel, sinceEpoch: Int, confidence: Double, epochs: Int,
                evidence: [String], suggestions: [Suggestion], learning: LearningSummary? = nil) {
        self.label = label
        self.sinceEpoch = sinceEpoch
        self.confidence = confidence
        self.epochs = epochs
        self.evidence = evidence
        self.suggestions = suggestions
        self.learning = learning
    }
}

/// The diagnosis of the latest epoch plus the label at every earlier epoch.
public struct DiagnosisReport: Sendable, Equatable {
    public var current: Diagnosis
    /// One entry per epoch record of the run, in order.
    public var history: [(epoch: Int, label: FitLabel)]

    public init(current: Diagnosis, history: [(epoch: Int, label: FitLabel)]) {
        self.current = current
        self.history = history
    }

    public static func == (a: DiagnosisReport, b: DiagnosisReport) -> Bool {
        a.current == b.current && a.history.count == b.history.count
            && zip(a.history, b.history).allSatisfy { $0.epoch == $1.epoch && $0.label == $1.label }
    }
}
