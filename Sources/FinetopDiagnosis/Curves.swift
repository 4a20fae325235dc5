import FinetopCore

/// The per-epoch series the diagnosis reads, taken from a run's epoch records. A value the record
/// does not have is `nil`; a value it has as NaN stays NaN (that is evidence of divergence).
public struct Curves: Sendable, Equatable {
    /// The run's own epoch numbers (0-based), one per record.
    public var epochNumbers: [Int]
    public var trainLoss: [Double?]
    public var valLoss: [Double?]
    public var trainAccuracy: [Double?]
    public var valAccuracy: [Double?]
    /// Where accuracy came from (`accuracy`, `acc`, `sparse_categorical_accuracy`, …), for evidence.
    public var accuracyName: String?
    /// The accuracy was logged in percent (a value above 1) and is held here as a fraction.
    public var accuracyWasPercent = false
    /// Classes of a classifier, from the run's task or its output layer: the chance-level loss is ln(classes).
    public var numClasses: Int?
    /// What the user expects the run to reach (`--target-accuracy`, `--target-loss`, or `target` in the hparams).
    public var target = Target()
    /// Per record, the ratio that says whether the layers barely moved at that epoch
    /// (`LearningSignal.movementRatio`; nil where the epoch has no `layer_stats`, or no layer moved).
    public var movementRatio: [Double?] = []
    /// The update-ratio band of the run's steps per epoch; nil for a run without `layer_stats`.
    public var band: LearningBand?
    /// Records the job reached right after a control event (the model revision of its `layer_stats`
    /// or its reported `learning_rate` changed since the record before): the jump across one is the
    /// change the user made, which the noise estimate leaves out.
    public var controlEvents: Set<Int> = []

    public init(epochNumbers: [Int], trainLoss: [Double?], valLoss: [Double?],
                trainAccuracy: [Double?] = [], valAccuracy: [Double?] = [], accuracyName: String? = nil,
                numClasses: Int? = nil, target: Target = Target()) {
        self.epochNumbers = epochNumbers
        self.trainLoss = trainLoss
        self.valLoss = valLoss
        var train = trainAccuracy.isEmpty ? Array(repeating: nil, count: trainLoss.count) : trainAccuracy
        var val = valAccuracy.isEmpty ? Array(repeating: nil, count: trainLoss.count) : valAccuracy
        // Accuracy in percent (0-100): any finite value above 1 says so; both series share the unit.
        if (train + val).contains(where: { ($0 ?? 0).isFinite && ($0 ?? 0) > 1 }) {
            train = train.map { $0.map { $0 / 100 } }
            val = val.map { $0.map { $0 / 100 } }
            accuracyWasPercent = true
        }
        self.trainAccuracy = train
        self.valAccuracy = val
        self.accuracyName = accuracyName
        self.numClasses = numClasses.flatMap { $0 > 1 ? $0 : nil }
        var target = target
        if let a = target.accuracy, a > 1, a <= 100 { target.accuracy = a / 100 }
        self.target = target
    }

    /// Reads the series from a run, accepting the names other frameworks use for the same thing.
    /// The target comes from `target` unless it is empty, else from the run's hparams.
    public init(_ run: Run, target: Target = Target()) {
        let records = run.epochs
        let accuracy = Self.accuracyName(in: records)
        self.init(
            epochNumbers: records.map(\.epoch),
            trainLoss: records.map { Self.first(of: Self.trainLossNames, in: $0) },
            valLoss: records.map { Self.first(of: Self.valLossNames, in: $0) },
            trainAccuracy: records.map { r in accuracy.flatMap { r.values[$0] } },
            valAccuracy: records.map { r in accuracy.flatMap { r.values["val_" + $0] } },
            accuracyName: accuracy,
            numClasses: run.info?.task?.numClasses ?? run.model.flatMap(RunFacts.outputWidth),
            target: target.isEmpty ? Target(run.info?.hparams ?? HParams()) : target)
        // A lower bound (TensorBoard histograms' norm change) cannot show a layer barely moves.
        if !run.layerStats.isEmpty, run.layerStats.measure == .updateRatio {
            let band = LearningBand(run: run)
            self.band = band
            movementRatio = LearningSignal.movementRatio(run.layerStats, model: run.model, band: band, at: records.map(\.epoch))
        }
        controlEvents = Self.controlEvents(run)
    }

    /// Record indices whose model revision (from the `layer_stats` line of the same epoch) differs
    /// from the previous record's, or whose reported learning rate steps away from a rate held the
    /// two records before (a toggle, ReduceLROnPlateau, a step decay; a schedule that changes the
    /// rate every epoch has no one-off jumps).
    static func controlEvents(_ run: Run) -> Set<Int> {
        var revisionAt: [Int: Int] = [:]
        for (slot, e) in run.layerStats.epochs.enumerated() where run.layerStats.modelRevisions[slot] >= 0 {
            revisionAt[e] = run.layerStats.modelRevisions[slot]
        }
        var events: Set<Int> = []
        func rate(_ i: Int) -> Double? { (run.epochs[i].values["learning_rate"] ?? run.epochs[i].values["lr"]).flatMap { $0.isFinite ? $0 : nil } }
        for i in run.epochs.indices.dropFirst() {
            if let r0 = revisionAt[run.epochs[i - 1].epoch], let r1 = revisionAt[run.epochs[i].epoch], r0 != r1 { events.insert(i) }
            if i >= 2, let held = rate(i - 1), rate(i - 2) == held, let now = rate(i), now != held { events.insert(i) }
        }
        return events
    }

    /// The movement ratio at record `i`, if the run logged one.
    func movement(at i: Int) -> Double? { movementRatio.indices.contains(i) ? movementRatio[i] : nil }

    public var count: Int { trainLoss.count }
    public var hasValidation: Bool { valLoss.contains { $0 != nil } }

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

/// What the user expects the run to reach: the "human-level" reference for avoidable bias (Ng).
public struct Target: Sendable, Equatable {
    /// A fraction 0-1 (a value in percent, 1-100, is read as percent).
    public var accuracy: Double?
    public var loss: Double?

    public init(accuracy: Double? = nil, loss: Double? = nil) {
        self.accuracy = accuracy.flatMap { $0.isFinite && $0 > 0 ? $0 : nil }
        self.loss = loss.flatMap { $0.isFinite ? $0 : nil }
    }

    /// `"target": 0.85` (an accuracy) or `"target": {"accuracy": 0.85, "loss": 0.3}` in the run's hparams.
    public init(_ hparams: HParams) {
        guard let value = hparams.extra.first(where: { $0.0 == "target" })?.1 else { self.init(); return }
        if let a = value.double { self.init(accuracy: a); return }
        self.init(accuracy: value["accuracy"]?.double ?? value["val_accuracy"]?.double,
                  loss: value["loss"]?.double ?? value["val_loss"]?.double)
    }

    public var isEmpty: Bool { accuracy == nil && loss == nil }
}
