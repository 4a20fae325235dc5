/// The per-layer learning signal of a run, from its `layer_stats` lines: for every layer and
/// epoch, the update ratio `‖w_end − w_start‖ / ‖w_start‖` over the epoch (all the layer's
/// weights, so moving statistics show), and the gradient norm where the job gave one.
///
/// Stored column-wise: one column of `Float`s per layer, starting at the first epoch the layer
/// was logged, so memory follows what was logged (a layer logged at every one of 1,000 epochs
/// costs 4 KB; 10,000 such layers 40 MB). A `Float` keeps 7 significant digits, far more than a
/// ratio is shown with; a ratio that is not 0 is never stored as 0 (it is raised to the smallest
/// `Float` instead), so "exactly 0" keeps meaning "did not move".
public struct LayerStats: Sendable, Equatable {
    /// What the ratios measure.
    public enum Measure: Sendable, Equatable {
        /// `‖w_end − w_start‖ / ‖w_start‖` over the epoch, from the job's `layer_stats` lines.
        case updateRatio
        /// `|‖w_end‖ − ‖w_start‖| / ‖w_start‖`: the relative change of the weights' norm between two
        /// weight histograms of a TensorBoard log (their sum of squares), for runs without a
        /// helper. A lower bound of the update ratio (reverse triangle inequality): a value proves
        /// the layer moved at least that much, a small one does not prove it barely moved (a
        /// rotation keeps the norm). 0 means equal sums of squares, i.e. in practice unchanged
        /// weights. Show it as "≥ r", never as the update ratio.
        case weightNormChange
    }

    /// What `ratio` means for this run.
    public var measure = Measure.updateRatio
    /// The epochs that have a `layer_stats` line, ascending (a resumed job replaces later ones).
    public private(set) var epochs: [Int] = []
    /// The model revision the run had when each epoch's line was read (-1: no model line yet).
    public private(set) var modelRevisions: [Int] = []
    /// Layer names in the order first logged.
    public private(set) var names: [String] = []
    private var columnOf: [String: Int] = [:]
    private var ratios: [StatsColumn] = []
    private var gradNorms: [StatsColumn] = []
    /// Per layer, whether the model line said it was frozen when its latest value was logged:
    /// 0 unknown (no model line, or not a row of it), 1 trainable, 2 frozen.
    private var frozenWhenLogged: [UInt8] = []
    private var frozenCache: FrozenCache?

    /// The flags of the last model table seen; not part of the stats' value.
    private struct FrozenCache: Sendable {
        var table: LayerTable
        var flags: [String: Bool]
    }

    public init() {}

    public static func == (a: LayerStats, b: LayerStats) -> Bool {
        a.measure == b.measure && a.epochs == b.epochs && a.modelRevisions == b.modelRevisions && a.names == b.names && a.ratios == b.ratios
            && a.gradNorms == b.gradNorms && a.frozenWhenLogged == b.frozenWhenLogged
    }

    public var isEmpty: Bool { epochs.isEmpty }
    /// The latest epoch with layer stats.
    public var latestEpoch: Int? { epochs.last }

    // MARK: - Reading lines

    /// Takes one `layer_stats` line; returns why it was skipped, or nil when taken. `model` is the
    /// run's layer table at the time, to remember which layers were frozen when they moved.
    mutating func record(_ line: JSONValue, model: LayerTable?) -> String? {
        guard let e = line["epoch"]?.int, e >= 0, e <= Int(Int32.max) else {
            return "layer_stats line without a whole \"epoch\" number"
        }
        guard let ratioPairs = line["update_ratio"]?.objectPairs else {
            return "layer_stats line without an \"update_ratio\" object"
        }
        var entries: [(String, Double)] = []
        entries.reserveCapacity(ratioPairs.count)
        for (name, value) in ratioPairs {
            switch Self.statistic(value) {
            case .some(.some(let r)): entries.append((name, r))
            case .some(.none): continue
            case .none: return "layer_stats line: update ratio of \"\(name)\" is not a number ≥ 0"
            }
        }
        var norms: [(String, Double)] = []
        if let g = line["grad_norm"], g != .null {
            guard let pairs = g.objectPairs else { return "layer_stats line: \"grad_norm\" is not an object" }
            for (name, value) in pairs {
                switch Self.statistic(value) {
                case .some(.some(let n)): norms.append((name, n))
                case .some(.none): continue
                case .none: return "layer_stats line: grad norm of \"\(name)\" is not a number ≥ 0"
                }
            }
        }
        let frozen = frozenFlags(of: model)
        append(epoch: e, modelRevision: model?.revision ?? -1, ratios: entries, gradNorms: norms,
               frozen: { frozen[$0] })
        return nil
    }

    /// The frozen flag of every row of `model`, built once per model line (a `layer_stats` line
    /// per epoch must not rebuild it for 10,000 layers).
    private mutating func frozenFlags(of model: LayerTable?) -> [String: Bool] {
        guard let model else { return [:] }
        if let cache = frozenCache, cache.table == model { return cache.flags }
        var flags: [String: Bool] = [:]
        flags.reserveCapacity(model.layers.count)
        for layer in model.layers { flags[layer.name] = Self.isFrozen(layer) }
        frozenCache = FrozenCache(table: model, flags: flags)
        return flags
    }

    /// A layer the optimizer does not update: its flag is off or none of its params train.
    public static func isFrozen(_ layer: Layer) -> Bool { !layer.trainable || layer.trainableParams == 0 }

    /// `.some(value)` for a number ≥ 0 (NaN and +∞ included: weights that blew up), `.some(nil)` for
    /// null (not measured), nil for anything else.
    private static func statistic(_ value: JSONValue) -> Double?? {
        switch value {
        case .null: return .some(nil)
        case .number(let d): return d >= 0 || d.isNaN ? .some(d) : nil
        case .bool, .string, .array, .object: return nil
        }
    }

    /// Adds one epoch's values; an epoch not after the latest means the job resumed from an
    /// earlier point, and what was logged from there on is replaced (as epoch lines are).
    public mutating func append(epoch: Int, modelRevision: Int = -1, ratios entries: [(String, Double)],
                                gradNorms norms: [(String, Double)] = [], frozen: (String) -> Bool? = { _ in nil }) {
        if let last = epochs.last, epoch <= last {
            let keep = epochs.firstIndex { $0 >= epoch } ?? epochs.count
            epochs.removeSubrange(keep...)
            modelRevisions.removeSubrange(keep...)
            for i in ratios.indices {
                ratios[i].truncate(toSlots: keep)
                gradNorms[i].truncate(toSlots: keep)
            }
        }
        let slot = epochs.count
        epochs.append(epoch)
        modelRevisions.append(modelRevision)
        for (name, r) in entries {
            let c = column(for: name)
            ratios[c].set(Self.stored(r), slot: slot)
            switch frozen(name) {
            case .some(true): frozenWhenLogged[c] = 2
            case .some(false): frozenWhenLogged[c] = 1
            case .none: frozenWhenLogged[c] = 0
            }
        }
        for (name, n) in norms {
            gradNorms[column(for: name)].set(Self.stored(n), slot: slot)
        }
    }

    /// Appends what a later reader took from the lines after this one's (parallel loading);
    /// layers whose frozen state the later reader could not know (it had no model line yet)
    /// take it from `model`, the table in effect where this reader stopped.
    mutating func append(contentsOf later: LayerStats, model: LayerTable?) {
        var frozen: [String: Bool] = [:]
        for layer in model?.layers ?? [] { frozen[layer.name] = Self.isFrozen(layer) }
        for (slot, e) in later.epochs.enumerated() {
            var entries: [(String, Double)] = []
            var norms: [(String, Double)] = []
            for (c, name) in later.names.enumerated() {
                if let r = later.ratios[c].value(at: slot) { entries.append((name, Double(r))) }
                if let n = later.gradNorms[c].value(at: slot) { norms.append((name, Double(n))) }
            }
            let revision = later.modelRevisions[slot] >= 0 ? later.modelRevisions[slot] : (model?.revision ?? -1)
            append(epoch: e, modelRevision: revision, ratios: entries, gradNorms: norms) { name in
                if let c = later.columnOf[name], later.frozenWhenLogged[c] != 0 { return later.frozenWhenLogged[c] == 2 }
                return frozen[name]
            }
        }
    }

    private mutating func column(for name: String) -> Int {
        if let c = columnOf[name] { return c }
        columnOf[name] = names.count
        names.append(name)
        ratios.append(StatsColumn())
        gradNorms.append(StatsColumn())
        frozenWhenLogged.append(0)
        return names.count - 1
    }

    private static func stored(_ d: Double) -> Float {
        let f = Float(d)
        return d > 0 && f == 0 ? .leastNonzeroMagnitude : f
    }

    // MARK: - Reading values

    /// The update ratio of `layer` at `epoch`, when logged.
    public func ratio(_ layer: String, epoch: Int) -> Double? {
        guard let c = columnOf[layer], let slot = slot(of: epoch) else { return nil }
        return ratios[c].value(at: slot).map(Double.init)
    }

    /// The gradient norm of `layer` at `epoch`, when logged.
    public func gradNorm(_ layer: String, epoch: Int) -> Double? {
        guard let c = columnOf[layer], let slot = slot(of: epoch) else { return nil }
        return gradNorms[c].value(at: slot).map(Double.init)
    }

    /// The layer's most recent ratio and the epoch it was logged at.
    public func latest(_ layer: String) -> (epoch: Int, ratio: Double)? {
        guard let c = columnOf[layer], let (slot, r) = ratios[c].last else { return nil }
        return (epochs[slot], Double(r))
    }

    /// The layer's most recent gradient norm and its epoch.
    public func latestGradNorm(_ layer: String) -> (epoch: Int, norm: Double)? {
        guard let c = columnOf[layer], let (slot, n) = gradNorms[c].last else { return nil }
        return (epochs[slot], Double(n))
    }

    /// The layer's ratios at the run's last `count` logged epochs, oldest first; nil where the
    /// layer was not logged. Shorter when fewer epochs were logged.
    public func recentRatios(_ layer: String, epochs count: Int) -> [Double?] {
        let n = min(max(count, 0), epochs.count)
        let first = epochs.count - n
        guard let c = columnOf[layer] else { return Array(repeating: nil, count: n) }
        return (first..<epochs.count).map { ratios[c].value(at: $0).map(Double.init) }
    }

    /// Which way the layer's ratio went over the last `count` logged epochs: the latest value
    /// against the earliest in the window, a factor of 2 either way counting as a change.
    public func trend(_ layer: String, epochs count: Int) -> RatioTrend {
        let values = recentRatios(layer, epochs: count).compactMap { $0 }.filter { !$0.isNaN }
        guard values.count >= 2, let first = values.first, let last = values.last else { return .unknown }
        if first == 0 && last == 0 { return .steady }
        if first == 0 { return .rising }
        if last == 0 { return .falling }
        let factor = last / first
        if factor >= 2 { return .rising }
        if factor <= 0.5 { return .falling }
        return .steady
    }

    /// Whether the model line said the layer was frozen when its latest ratio was logged; nil when unknown.
    public func wasFrozenWhenLogged(_ layer: String) -> Bool? {
        guard let c = columnOf[layer] else { return nil }
        switch frozenWhenLogged[c] {
        case 2: return true
        case 1: return false
        default: return nil
        }
    }

    /// A layer that moved (latest ratio above 0) while the model line said it was frozen: its
    /// weights changed though the optimizer does not update it (PyTorch BatchNorm running
    /// statistics in train mode, a frozen flag the job did not honour).
    public func frozenButMoved(_ layer: String) -> Bool {
        guard wasFrozenWhenLogged(layer) == true, let r = latest(layer)?.ratio else { return false }
        return r > 0
    }

    /// Every layer for which `frozenButMoved` holds, in the order first logged.
    public var layersFrozenButMoved: [String] { names.filter(frozenButMoved) }

    private func slot(of epoch: Int) -> Int? {
        var lo = 0, hi = epochs.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if epochs[mid] < epoch { lo = mid + 1 } else { hi = mid }
        }
        return lo < epochs.count && epochs[lo] == epoch ? lo : nil
    }
}

/// Which way a layer's update ratio is going over recent epochs.
public enum RatioTrend: String, Sendable {
    case rising, falling, steady
    /// Fewer than two values in the window.
    case unknown
}

/// One layer's values by epoch slot, from the first slot it was logged at; `gap` where a line did not have it.
struct StatsColumn: Sendable, Equatable {
    static let gap: Float = -1
    /// The slot of `values[0]`.
    var start = 0
    var values: [Float] = []

    mutating func set(_ v: Float, slot: Int) {
        if values.isEmpty { start = slot }
        let i = slot - start
        guard i >= 0 else { return }
        if i < values.count {
            values[i] = v
            return
        }
        if i > values.count { values.append(contentsOf: repeatElement(Self.gap, count: i - values.count)) }
        values.append(v)
    }

    func value(at slot: Int) -> Float? {
        let i = slot - start
        guard i >= 0, i < values.count, values[i] != Self.gap else { return nil }
        return values[i]
    }

    /// The latest logged value and its slot.
    var last: (Int, Float)? {
        guard let i = values.lastIndex(where: { $0 != Self.gap }) else { return nil }
        return (start + i, values[i])
    }

    /// Keeps only slots before `slots`.
    mutating func truncate(toSlots slots: Int) {
        let keep = max(0, slots - start)
        if keep < values.count { values.removeSubrange(keep...) }
        while values.last == Self.gap { values.removeLast() }
        if values.isEmpty { start = 0 }
    }

    static func == (a: StatsColumn, b: StatsColumn) -> Bool {
        a.start == b.start && a.values.map(\.bitPattern) == b.values.map(\.bitPattern)
    }
}

extension RunWriter {
    /// Writes a `layer_stats` line: every layer's update ratio over the epoch, and its gradient
    /// norm where the job has one.
    public func layerStats(epoch: Int, updateRatio: [(String, Double)], gradNorm: [(String, Double)] = []) {
        var object: [(String, JSONValue)] = [
            ("type", "layer_stats"), ("epoch", .number(Double(epoch))),
            ("update_ratio", .object(updateRatio.map { ($0.0, .number($0.1)) })),
        ]
        if !gradNorm.isEmpty { object.append(("grad_norm", .object(gradNorm.map { ($0.0, .number($0.1)) }))) }
        write(object)
    }
}
