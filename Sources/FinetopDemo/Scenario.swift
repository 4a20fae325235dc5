import FinetopCore

/// A starting state of the demo that shows one diagnosis.
public enum Scenario: String, Sendable, CaseIterable {
    /// The tutorial's first step: pretrained base frozen, a new head with dropout. Unfreezing the
    /// base from the dashboard lets the loss drop; training on then overfits the small subset.
    case underfit
    /// Everything trainable, a tiny training subset, no dropout, a long run.
    case overfit
    /// The top of the base trainable, more data, strong dropout: both curves fall together.
    case fit
    /// A learning rate far too large: the loss explodes.
    case diverge

    /// The numbers were chosen by watching the curves: each shows its label within a few dozen
    /// epochs for the default seed, and `underfit` turns into overfitting once the base is unfrozen.
    public var plan: TrainingPlan {
        switch self {
        case .underfit:
            return TrainingPlan(trainSamples: 200, trainableBase: [], dropout: 0.5,
                                optimizer: .adam(learningRate: 5e-3), batchSize: 32, epochs: 300)
        case .overfit:
            return TrainingPlan(trainSamples: 60, trainableBase: TrainingPlan.baseNames, dropout: 0,
                                optimizer: .adam(learningRate: 1e-2), batchSize: 8, epochs: 200)
        case .fit:
            return TrainingPlan(trainSamples: 450, trainableBase: ["dense_2", "dense_3"], dropout: 0.5,
                                optimizer: .adam(learningRate: 2e-3), batchSize: 32, epochs: 60)
        case .diverge:
            // Adam bounds each step and small batches let ReLUs die quietly; full-batch SGD with an
            // absurd rate blows the weights up, and the loss stays far above where it started.
            return TrainingPlan(trainSamples: 200, trainableBase: TrainingPlan.baseNames, dropout: 0,
                                optimizer: .sgd(learningRate: 64), batchSize: 200, epochs: 60)
        }
    }
}

/// Everything that shapes one demo run; a scenario's plan can be adjusted before training.
/// (Built inside the module with the memberwise initializer; other modules adjust a scenario's plan.)
public struct TrainingPlan: Sendable, Equatable {
    /// The base's dense layers, input to output.
    public static let baseNames = ["dense_1", "dense_2", "dense_3"]
    /// How the base is "pretrained" on digits 0–4 at start-up: the same in every scenario.
    public static let pretrainEpochs = 5
    public static let pretrainBatchSize = 32
    public static let pretrainLearningRate = 1e-3

    /// The widths of the base's dense layers; the narrow last one makes a frozen base underfit.
    public var baseWidths = [64, 32, 16]
    /// Images of digits 5–9 to fine-tune on, and to validate with.
    public var trainSamples: Int
    public var validationSamples = 300
    /// Base layers trainable at the start; the head always is.
    public var trainableBase: [String]
    /// Dropout before the head; 0 leaves the layer out.
    public var dropout: Double
    public var optimizer: Optimizer
    public var batchSize: Int
    public var epochs: Int
    public var earlyStopping: EarlyStoppingInfo?
}
