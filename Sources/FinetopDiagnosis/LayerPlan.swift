import FinetopCore

/// A change of trainable flags the dashboard can apply, with what it does to the trainable count.
public struct LayerPlan: Sendable, Equatable {
    /// The layers the plan is about, in model order (leaves with weights).
    public var layers: [String]
    /// Every flag to write to control.json, including enclosing models that must be switched on
    /// and their other children kept frozen (Keras sets a nested model's flag recursively).
    public var flags: [String: Bool]
    /// Change in trainable parameters: positive when unfreezing.
    public var trainableDelta: Int
    public var trainableBefore: Int

    public var trainableAfter: Int { trainableBefore + trainableDelta }

    /// The tutorial's move for an underfitting or fitting run: make the last `count` frozen layers
    /// with weights trainable, counted from the end of the model (the head stays as it is).
    public static func unfreezeLast(_ count: Int, of model: LayerTable) -> LayerPlan? {
        let frozen = model.leafIndices.filter { model.layers[$0].isFrozenWithWeights }
        let chosen = Array(frozen.suffix(max(0, count)))
        guard !chosen.isEmpty else { return nil }
        let flags = model.unfreezeFlags(chosen)
        // The one parameter rule in Core, the same the dashboard's pending totals use.
        let delta = model.trainableAfter(flags) - model.totals.trainable
        return LayerPlan(layers: chosen.map { model.layers[$0].name },
                         flags: flags,
                         trainableDelta: delta, trainableBefore: model.totals.trainable)
    }

    /// For an overfitting run: freeze the first half of the trainable layers with weights, the ones
    /// nearest the frozen base, and never the output layer.
    public static func freezeEarliestTrainable(of model: LayerTable) -> LayerPlan? {
        let trainable = model.leafIndices.filter { model.layers[$0].trainableParams > 0 }.dropLast()
        let chosen = Array(trainable.prefix(max(1, trainable.count / 2)))
        guard !chosen.isEmpty else { return nil }
        let delta = chosen.reduce(0) { $0 - model.layers[$1].trainableParams }
        var flags: [String: Bool] = [:]
        for i in chosen { flags[model.layers[i].name] = false }
        return LayerPlan(layers: chosen.map { model.layers[$0].name }, flags: flags,
                         trainableDelta: delta, trainableBefore: model.totals.trainable)
    }

    /// How many layers to suggest unfreezing: half of the frozen ones, at most 10 (the tutorial's
    /// example), at least 1.
    public static func suggestedUnfreezeCount(_ model: LayerTable) -> Int {
        let frozen = model.leafIndices.filter { model.layers[$0].isFrozenWithWeights }.count
        return min(10, max(1, frozen / 2))
    }

    /// "block_15_expand … Conv_1", or the one name.
    public var span: String {
        guard let first = layers.first, let last = layers.last else { return "" }
        return layers.count == 1 ? first : "\(first) … \(last)"
    }
}

extension Layer {
    /// Frozen as the optimizer sees it: has weights, none of them trained now.
    var isFrozenWithWeights: Bool { hasWeights && trainableParams == 0 }
}

extension LayerTable {
    /// Layers with nothing nested inside them, in order.
    var leafIndices: [Int] { layers.indices.filter(isLeaf) }

    func isLeaf(_ i: Int) -> Bool { i + 1 == layers.count || layers[i + 1].depth <= layers[i].depth }

    /// The enclosing models of layer `i`, outermost first.
    func ancestors(of i: Int) -> [Int] {
        var result: [Int] = []
        var depth = layers[i].depth
        var j = i - 1
        while j >= 0, depth > 0 {
            if layers[j].depth < depth {
                result.insert(j, at: 0)
                depth = layers[j].depth
            }
            j -= 1
        }
        return result
    }

    /// The leaves nested anywhere inside layer `i`.
    func descendants(of i: Int) -> [Int] {
        var result: [Int] = []
        var j = i + 1
        while j < layers.count, layers[j].depth > layers[i].depth {
            result.append(j)
            j += 1
        }
        return result.filter(isLeaf)
    }

    /// Flags that unfreeze `chosen`; a frozen enclosing model is switched on with its other frozen
    /// children named as frozen, so the result does not depend on the order the job applies them.
    func unfreezeFlags(_ chosen: [Int]) -> [String: Bool] {
        var flags: [String: Bool] = [:]
        for i in chosen { flags[layers[i].name] = true }
        let frozenAncestors = Set(chosen.flatMap { ancestors(of: $0) }).filter { !layers[$0].trainable }
        for a in frozenAncestors.sorted() {
            flags[layers[a].name] = true
            for d in descendants(of: a) where flags[layers[d].name] == nil && layers[d].isFrozenWithWeights {
                flags[layers[d].name] = false
            }
        }
        return flags
    }
}
