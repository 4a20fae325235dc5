/// What the training side says about itself in the `run` line.
public struct RunInfo: Sendable, Equatable {
    public var version: Int = 1
    public var framework: String = "unknown"
    public var frameworkVersion: String?
    public var runID: String?
    public var started: Double?
    public var task: TaskInfo?
    public var hparams: HParams = HParams()

    public init(framework: String = "unknown", frameworkVersion: String? = nil, runID: String? = nil,
                started: Double? = nil, task: TaskInfo? = nil, hparams: HParams = HParams()) {
        self.framework = framework
        self.frameworkVersion = frameworkVersion
        self.runID = runID
        self.started = started
        self.task = task
        self.hparams = hparams
    }
}

/// The learning task: what kind, how many classes, which loss.
public struct TaskInfo: Sendable, Equatable {
    public var kind: String?
    public var numClasses: Int?
    public var loss: String?
    public init(kind: String? = nil, numClasses: Int? = nil, loss: String? = nil) {
        self.kind = kind
        self.numClasses = numClasses
        self.loss = loss
    }
}

/// Keras-style EarlyStopping settings, when the job uses it.
public struct EarlyStoppingInfo: Sendable, Equatable {
    public var monitor: String = "val_loss"
    public var patience: Int = 0
    public var minDelta: Double = 0
    public var restoreBestWeights: Bool = false
    public init(monitor: String = "val_loss", patience: Int = 0, minDelta: Double = 0, restoreBestWeights: Bool = false) {
        self.monitor = monitor
        self.patience = patience
        self.minDelta = minDelta
        self.restoreBestWeights = restoreBestWeights
    }
}

/// Hyper-parameters the training side could see. Unknown ones are kept in `extra`.
public struct HParams: Sendable, Equatable {
    public var optimizer: String?
    public var learningRate: Double?
    public var batchSize: Int?
    public var epochs: Int?
    public var augmentation: [String] = []
    public var dropout: [Double] = []
    public var earlyStopping: EarlyStoppingInfo?
    public var extra: [(String, JSONValue)] = []

    public init(optimizer: String? = nil, learningRate: Double? = nil, batchSize: Int? = nil, epochs: Int? = nil,
                augmentation: [String] = [], dropout: [Double] = [], earlyStopping: EarlyStoppingInfo? = nil) {
        self.optimizer = optimizer
        self.learningRate = learningRate
        self.batchSize = batchSize
        self.epochs = epochs
        self.augmentation = augmentation
        self.dropout = dropout
        self.earlyStopping = earlyStopping
    }

    public static func == (a: HParams, b: HParams) -> Bool {
        a.optimizer == b.optimizer && a.learningRate == b.learningRate && a.batchSize == b.batchSize
            && a.epochs == b.epochs && a.augmentation == b.augmentation && a.dropout == b.dropout
            && a.earlyStopping == b.earlyStopping
            && a.extra.count == b.extra.count && zip(a.extra, b.extra).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
    }
}

/// One row of the layer table, as the training side reported it.
public struct Layer: Sendable, Equatable {
    /// Unique; nested models as `outer/inner`.
    public var name: String
    public var className: String
    public var shape: String
    public var params: Int
    /// What the optimizer updates now: 0 for a frozen layer; never a BatchNormalization's moving statistics.
    public var trainableParams: Int
    /// The layer's own `trainable` flag.
    public var trainable: Bool
    /// 0 for top level, 1 inside a nested model, …
    public var depth: Int
    /// How many of its params the optimizer would update if the layer were trainable, as the job
    /// counted them (`learnable_params`); nil in logs that do not say (then a class-name rule guesses).
    public var learnableParams: Int?
    /// Some of the layer's own parameters train, not all (PyTorch: a frozen weight, a trainable bias).
    public var partial: Bool
    /// A norm layer whose running statistics the job holds fixed (eval mode).
    public var statsFrozen: Bool

    public init(name: String, className: String, shape: String = "", params: Int, trainableParams: Int,
                trainable: Bool, depth: Int = 0, learnableParams: Int? = nil, partial: Bool = false,
                statsFrozen: Bool = false) {
        self.name = name
        self.className = className
        self.shape = shape
        self.params = params
        self.trainableParams = trainableParams
        self.trainable = trainable
        self.depth = depth
        self.learnableParams = learnableParams
        self.partial = partial
        self.statsFrozen = statsFrozen
    }

    public var nonTrainableParams: Int { params - trainableParams }
    /// Layers without weights (InputLayer, ReLU, pooling) have no flag worth toggling; Keras shows `-`.
    public var hasWeights: Bool { params > 0 }
}

/// The model's layers at one revision, with Keras-exact parameter totals.
public struct LayerTable: Sendable, Equatable {
    public var revision: Int
    public var layers: [Layer]
    public let totals: ParamTotals
    /// Scalars in the optimizer's variables once it is built (Keras's "Optimizer params"), when the job says.
    public var optimizerParams: Int?

    public init(revision: Int, layers: [Layer], optimizerParams: Int? = nil) {
        self.revision = revision
        self.layers = layers
        self.totals = ParamTotals(countingTopLevelOf: layers)
        self.optimizerParams = optimizerParams
    }

    public func index(named name: String) -> Int? { layers.firstIndex { $0.name == name } }
}

/// One `epoch` line (or one row of an imported log): all values by metric name,
/// with `loss` and `val_loss` among them.
public struct EpochRecord: Sendable, Equatable {
    public var epoch: Int
    public var step: Int?
    public var values: [String: Double]
    public var time: Double?

    public init(epoch: Int, step: Int? = nil, values: [String: Double], time: Double? = nil) {
        self.epoch = epoch
        self.step = step
        self.values = values
        self.time = time
    }

    public var loss: Double? { values["loss"] }
    public var valLoss: Double? { values["val_loss"] }

    public static func == (a: EpochRecord, b: EpochRecord) -> Bool {
        guard a.epoch == b.epoch, a.step == b.step, a.time == b.time, a.values.count == b.values.count else { return false }
        for (k, v) in a.values {
            guard let w = b.values[k], v == w || (v.isNaN && w.isNaN) else { return false }
        }
        return true
    }
}

/// Per-batch values, stored column-wise so a million points stay small (20 bytes each for loss).
public struct BatchSeries: Sendable, Equatable {
    public private(set) var steps: [Int64] = []
    public private(set) var epochs: [Int32] = []
    public private(set) var loss: [Double] = []
    /// Names of the extra per-batch metrics, in the order first seen.
    public private(set) var metricNames: [String] = []
    /// One column per name in `metricNames`, aligned with `steps` (after `alignMetrics`); NaN
    /// where a line did not report it. Columns by index keep the reader's hot path free of hashing.
    public private(set) var metricColumns: [[Double]] = []

    /// Extra per-batch metrics by name.
    public var metrics: [String: [Double]] {
        Dictionary(uniqueKeysWithValues: zip(metricNames, metricColumns))
    }

    public init() {}
    public var count: Int { steps.count }

    public mutating func reserveCapacity(_ n: Int) {
        steps.reserveCapacity(n)
        epochs.reserveCapacity(n)
        loss.reserveCapacity(n)
    }

    public mutating func append(epoch: Int, step: Int, loss value: Double) {
        steps.append(Int64(truncatingIfNeeded: step))
        epochs.append(Int32(truncatingIfNeeded: epoch))
        loss.append(value)
    }

    /// The column index of a metric, adding an empty column the first time it is seen.
    public mutating func metricIndex(_ name: String) -> Int {
        if let i = metricNames.firstIndex(of: name) { return i }
        metricNames.append(name)
        metricColumns.append([])
        return metricNames.count - 1
    }

    /// Sets the loss of the point appended last (a value that arrived after its step's others).
    public mutating func setLastLoss(_ value: Double) {
        guard !loss.isEmpty else { return }
        loss[loss.count - 1] = value
    }

    /// Sets a metric for the point appended last.
    public mutating func setMetric(_ name: String, _ value: Double) {
        setMetric(at: metricIndex(name), value)
    }

    /// Sets the metric in column `index` for the point appended last.
    public mutating func setMetric(at index: Int, _ value: Double) {
        let n = steps.count
        guard n > 0, metricColumns.indices.contains(index) else { return }
        Self.place(value, at: n - 1, in: &metricColumns[index])
    }

    private static func place(_ value: Double, at index: Int, in column: inout [Double]) {
        if column.count > index {
            column[index] = value
            return
        }
        if column.count < index { column.append(contentsOf: repeatElement(.nan, count: index - column.count)) }
        column.append(value)
    }

    /// Appends another series after this one, matching metric columns by name.
    public mutating func append(contentsOf other: BatchSeries) {
        let n = steps.count
        steps.append(contentsOf: other.steps)
        epochs.append(contentsOf: other.epochs)
        loss.append(contentsOf: other.loss)
        for (k, name) in other.metricNames.enumerated() {
            let i = metricIndex(name)
            metricColumns[i].padNaN(to: n)
            metricColumns[i].append(contentsOf: other.metricColumns[k])
        }
    }

    /// Pads metrics that recent lines did not report, so every column has one value per step.
    public mutating func alignMetrics() {
        let n = steps.count
        for i in metricColumns.indices { metricColumns[i].padNaN(to: n) }
    }

    public func values(of metric: String) -> [Double]? {
        if metric == "loss" { return loss }
        return metricNames.firstIndex(of: metric).map { metricColumns[$0] }
    }

    public static func == (a: BatchSeries, b: BatchSeries) -> Bool {
        func same(_ x: [Double], _ y: [Double]) -> Bool {
            x.count == y.count && zip(x, y).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }
        }
        return a.steps == b.steps && a.epochs == b.epochs && same(a.loss, b.loss)
            && a.metrics.keys.sorted() == b.metrics.keys.sorted()
            && a.metrics.allSatisfy { k, v in same(v, b.metrics[k] ?? []) }
    }
}

/// The training side's answer to a control.json revision.
public struct ControlAck: Sendable, Equatable {
    public enum Status: String, Sendable { case applied, rejected }
    public var revision: Int
    public var status: Status
    public var changed: [String]
    public var message: String?
    public init(revision: Int, status: Status, changed: [String] = [], message: String? = nil) {
        self.revision = revision
        self.status = status
        self.changed = changed
        self.message = message
    }
}

/// How and why the job ended.
public struct RunEnd: Sendable, Equatable {
    public var reason: String
    public var message: String?
    public init(reason: String, message: String? = nil) {
        self.reason = reason
        self.message = message
    }
}

/// Which kind of file a run was read from; only `runDirectory` and `eventsFile` accept control.
/// An immutable snapshot of everything known about one training run.
public struct Run: Sendable, Equatable {
    public var format: LogFormat
    public var info: RunInfo?
    /// The latest layer table (the highest revision seen).
    public var model: LayerTable?
    public var epochs: [EpochRecord] = []
    public var batches = BatchSeries()
    public var acks: [ControlAck] = []
    /// Per-layer update ratios (and gradient norms) from the `layer_stats` lines.
    public var layerStats = LayerStats()
    public var end: RunEnd?
    /// Complete lines that were not valid JSON or lacked what their type needs.
    public var skippedLines: Int = 0
    /// Why the last skipped line was skipped, for the status line.
    public var lastSkipReason: String?
    /// How many runs the file holds (a CSVLogger appended to by several fits, a log of several
    /// `fit()` calls) and which one this is, 1-based; the last by default.
    public var runsInFile = 1
    public var runNumber = 1

    public init(format: LogFormat) { self.format = format }

    /// Metric names seen in epoch records, `loss` first, then the others in a stable order;
    /// `val_` partners are folded into their training metric.
    public var metricNames: [String] {
        var seen = Set<String>()
        for e in epochs { seen.formUnion(e.values.keys) }
        var names = seen.filter { !$0.hasPrefix("val_") }
        for v in seen where v.hasPrefix("val_") && !seen.contains(String(v.dropFirst(4))) {
            names.insert(String(v.dropFirst(4)))
        }
        names.remove("epoch")
        return names.sorted { a, b in
            if a == "loss" { return b != "loss" }
            if b == "loss" { return false }
            return a < b
        }
    }

    /// One value per epoch record (NaN where the record lacks it).
    public func epochValues(_ metric: String) -> [Double] {
        epochs.map { $0.values[metric] ?? .nan }
    }

    public var hasValidation: Bool { epochs.contains { $0.valLoss != nil } }
}

extension Array where Element == Double {
    mutating func padNaN(to n: Int) {
        if count < n { append(contentsOf: repeatElement(.nan, count: n - count)) }
    }
}
