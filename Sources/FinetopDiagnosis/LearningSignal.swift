import FinetopCore

/// What the per-layer update ratios (`layer_stats`) say about learning: which trainable layers
/// barely move, which move far too much, whether the layers just unfrozen learn, and which frozen
/// block to unfreeze next. Pure functions; the diagnosis and the dashboard decide what to show.
///
/// The yardstick is CS231n's rule of thumb: a well-set rate moves a layer's weights by about
/// 1e-3 of their size per step. The run format logs the ratio per epoch, over S steps. Steps that
/// point the same way add up (S × the step ratio), steps that wander add like a random walk
/// (√S ×), so one epoch's ratio R puts the step ratio between R / S and R / √S. A layer **barely
/// moves** when even the generous reading R / √S is two decades below the rule (< 1e-5): R < 1e-5 · √S
/// (1e-4 per epoch at 100 steps). It moves **far above the band** when even the cautious reading
/// R / S is a decade above (> 1e-2): R > 1e-2 · S (1 per epoch at 100 steps, the weights replaced).
public struct LearningBand: Sendable, Equatable {
    /// The rule of thumb: update / weight per step with a well-set learning rate.
    public static let perStep = 1e-3
    /// Steps per epoch the thresholds assume when the run does not say.
    public static let defaultStepsPerEpoch = 100

    public var stepsPerEpoch: Int
    /// Below this epoch ratio a trainable layer barely moves.
    public var barelyMoving: Double { 1e-5 * Double(stepsPerEpoch).squareRoot() }
    /// Above this epoch ratio a layer moves far too much.
    public var farAbove: Double { 1e-2 * Double(stepsPerEpoch) }

    public init(stepsPerEpoch: Int? = nil) {
        self.stepsPerEpoch = max(1, stepsPerEpoch ?? Self.defaultStepsPerEpoch)
    }

    /// The band for a run: its steps per epoch from the epoch lines' `step` (the median difference).
    public init(run: Run) {
        self.init(stepsPerEpoch: LearningSignal.stepsPerEpoch(run))
    }

    public func verdict(_ ratio: Double) -> RatioVerdict {
        if ratio.isNaN { return .unknown }
        if ratio == 0 { return .still }
        if ratio < barelyMoving { return .barelyMoving }
        if ratio > farAbove { return .farAbove }
        return .inBand
    }
}

/// Where one epoch ratio stands against the band.
public enum RatioVerdict: String, Sendable, CaseIterable {
    /// Exactly 0: the weights did not change (a frozen layer).
    case still
    case barelyMoving = "barely moving"
    case inBand = "in band"
    case farAbove = "far above"
    /// NaN: the weights are not numbers any more.
    case unknown
}

/// Did the layers unfrozen last learn, at the epochs measured since.
public struct UnfreezeOutcome: Sendable, Equatable {
    /// Their latest ratio is in or above the band.
    public var learning: [String] = []
    /// Trainable, measured since the unfreeze, but barely moving (or still).
    public var notLearning: [String] = []
    /// No ratio logged since they were unfrozen yet (the next epoch will tell).
    public var notYetMeasured: [String] = []
}

public enum LearningSignal {
    /// For each of `epochs`, a ratio that decides whether the layers barely moved at that epoch:
    /// the largest finite ratio above 0 when every layer stayed below `band.barelyMoving`, else one
    /// at or above it (nil when the epoch has no `layer_stats` or no layer moved). Layers trainable
    /// in `model` are read first and the scan stops once every epoch has one layer moving in the
    /// band, so a healthy run costs about one column, not layers × epochs.
    public static func movementRatio(_ stats: LayerStats, model: LayerTable?, band: LearningBand, at epochs: [Int]) -> [Double?] {
        var bySlot = [Double?](repeating: nil, count: stats.epochs.count)
        var undecided = stats.epochs.count
        let trainable = Set(model?.layers.filter { !LayerStats.isFrozen($0) }.map(\.name) ?? [])
        let ordered = stats.names.filter { trainable.contains($0) } + stats.names.filter { !trainable.contains($0) }
        for name in ordered where undecided > 0 {
            for (slot, r) in stats.recentRatios(name, epochs: stats.epochs.count).enumerated() {
                guard let r, r > 0, r.isFinite else { continue }
                let before = bySlot[slot] ?? 0
                guard before < band.barelyMoving, r > before else { continue }
                bySlot[slot] = r
                if r >= band.barelyMoving { undecided -= 1 }
            }
        }
        var slotOf: [Int: Int] = [:]
        for (slot, e) in stats.epochs.enumerated() { slotOf[e] = slot }
        return epochs.map { e in slotOf[e].flatMap { bySlot[$0] } }
    }

    /// Steps per epoch from the epoch lines' cumulative `step` (median difference); nil when unknown.
    public static func stepsPerEpoch(_ run: Run) -> Int? {
        let steps = run.epochs.compactMap(\.step)
        guard steps.count >= 2 else { return steps.first.flatMap { $0 > 0 ? $0 : nil } }
        let differences = zip(steps.dropFirst(), steps).map { $0 - $1 }.filter { $0 > 0 }.sorted()
        return differences.isEmpty ? nil : differences[differences.count / 2]
    }

    /// Trainable layers with weights whose latest ratio, logged while trainable, is below the band:
    /// with underfitting, their rate is too low for them.
    public static func barelyMoving(_ stats: LayerStats, _ model: LayerTable, band: LearningBand) -> [String] {
        model.layers.filter { layer in
            guard layer.hasWeights, !LayerStats.isFrozen(layer), stats.wasFrozenWhenLogged(layer.name) == false,
                  let r = stats.latest(layer.name)?.ratio else { return false }
            return band.verdict(r) == .barelyMoving || band.verdict(r) == .still
        }.map(\.name)
    }

    /// Layers whose latest ratio is far above the band: with a diverging loss, the rate is too high.
    public static func farAboveBand(_ stats: LayerStats, _ model: LayerTable, band: LearningBand) -> [String] {
        model.layers.filter { layer in
            guard let r = stats.latest(layer.name)?.ratio else { return false }
            return band.verdict(r) == .farAbove || r == .infinity
        }.map(\.name)
    }

    /// The layers the latest applied control revision made trainable (and still are), model order.
    public static func lastUnfrozen(_ run: Run) -> [String] {
        guard let model = run.model else { return [] }
        for ack in run.acks.reversed() where ack.status == .applied && !ack.changed.isEmpty {
            let changed = Set(ack.changed)
            let unfrozen = model.layers.filter { changed.contains($0.name) && $0.hasWeights && !LayerStats.isFrozen($0) }
            if !unfrozen.isEmpty { return unfrozen.map(\.name) }
        }
        return []
    }

    /// Whether `layers` (e.g. `lastUnfrozen`) learn: a ratio logged while trainable, in or above
    /// the band, counts as learning; one logged while still frozen does not count yet.
    public static func outcome(of layers: [String], _ stats: LayerStats, band: LearningBand) -> UnfreezeOutcome {
        var result = UnfreezeOutcome()
        for name in layers {
            guard stats.wasFrozenWhenLogged(name) == false, let r = stats.latest(name)?.ratio else {
                result.notYetMeasured.append(name)
                continue
            }
            switch band.verdict(r) {
            case .inBand, .farAbove: result.learning.append(name)
            case .still, .barelyMoving, .unknown: result.notLearning.append(name)
            }
        }
        return result
    }

    /// The block to unfreeze next: the frozen block with weights nearest below the trainable ones
    /// (counting from the output), as the tutorials unfreeze from the top down; nil when nothing
    /// trains yet or nothing is left frozen below.
    public static func nextBlockToUnfreeze(_ model: LayerTable) -> LayerBlock? {
        let blocks = LayerBlocks.group(model.layers)
        var seenTrainable = false
        for block in blocks.reversed() where block.params > 0 {
            if block.trainableParams > 0 {
                seenTrainable = true
            } else if seenTrainable {
                return block
            }
        }
        return nil
    }
}
