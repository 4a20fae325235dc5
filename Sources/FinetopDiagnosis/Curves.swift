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

    public init(epochNumbers: [Int], trainLoss: [Double?], valLoss: [Double?],
                trainAccuracy: [Double?] = [], valAccuracy: [Double?] = [], accuracyName: String? = nil) {
        self.epochNumbers = epochNumbers
        self.trainLoss = trainLoss
        self.valLoss = valLoss
        self.trainAccuracy = trainAccuracy.isEmpty ? Array(repeating: nil, count: trainLoss.count) : trainAccuracy
        self.valAccuracy = valAccuracy.isEmpty ? Array(repeating: nil, count: trainLoss.count) : valAccuracy
        self.accuracyName = accuracyName
    }

    /// Reads the series from a run, accepting the names other frameworks use for the same thing.
    public init(_ run: Run) {
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
