/// A per-layer learning signal from weight histograms, for TensorBoard runs written without a
/// finetop helper. A histogram holds no weights, so `‖w_end − w_start‖` cannot be known; what its
/// sum of squares does give exactly is each layer's weight norm at each logged step, hence the
/// relative change of the norm between two logs, `|‖w_t‖ − ‖w_s‖| / ‖w_s‖`, a lower bound of the
/// update ratio. It goes into `run.layerStats` marked `.weightNormChange`, so it is never shown as
/// the ratio itself. TF2's bucketed histograms (`tf.summary.histogram`, a tensor of bucket counts)
/// carry no sum of squares and are left out.
enum TensorBoardHistograms {
    /// Per-parameter tag endings: `fc1.weight`, `dense/kernel`, `bn.running_mean` belong to layer
    /// `fc1`, `dense`, `bn`. Any other tag is taken as a whole layer's histogram.
    static let parameterNames: Set<String> = [
        "weight", "bias", "kernel", "gamma", "beta", "embeddings", "moving_mean", "moving_variance",
        "running_mean", "running_var", "weight_g", "weight_v", "in_proj_weight", "in_proj_bias",
        "recurrent_kernel", "depthwise_kernel", "pointwise_kernel", "scale",
    ]

    /// The layer a histogram tag belongs to (Keras's `…/histogram` ending dropped).
    static func layerName(_ tag: String) -> String {
        var t = Substring(tag)
        if t.hasSuffix("/histogram") { t = t.dropLast(10) }
        if let cut = t.lastIndex(where: { $0 == "." || $0 == "/" }) {
            let last = t[t.index(after: cut)...]
            if parameterNames.contains(String(last)), cut > t.startIndex { return String(t[..<cut]) }
        }
        return String(t)
    }

    /// The layer stats: per layer, the sum of its parameters' sums of squares at the steps all of
    /// them were logged; per epoch the norm at its last such step, compared with the previous
    /// epoch's. `epochOf` maps a step onto the epoch it ends or falls in.
    static func layerStats(_ histograms: [TensorBoardScalars.Series], epochOf: (Int64) -> Int?) -> LayerStats {
        var stats = LayerStats()
        stats.measure = .weightNormChange
        guard !histograms.isEmpty else { return stats }
        var layers: [String: [TensorBoardScalars.Series]] = [:]
        var order: [String] = []
        var runOf: [String: String] = [:]
        for h in histograms where !h.steps.isEmpty {
            let name = layerName(h.tag)
            // The same layer logged in two runs (sub-directories) is taken from the first.
            if let run = runOf[name], run != h.run { continue }
            if layers[name] == nil { order.append(name); runOf[name] = h.run }
            layers[name, default: []].append(h)
        }
        var byEpoch: [Int: [(String, Double)]] = [:]
        for name in order {
            guard let parts = layers[name] else { continue }
            // Steps every parameter of the layer was logged at, with the summed squares.
            var sums: [Int64: (count: Int, squares: Double)] = [:]
            for p in parts {
                for (s, v) in zip(p.steps, p.values) {
                    let old = sums[s] ?? (0, 0)
                    sums[s] = (old.count + 1, old.squares + v)
                }
            }
            var lastPerEpoch: [(epoch: Int, norm: Double)] = []
            for s in sums.keys.sorted() {
                guard let entry = sums[s], entry.count == parts.count, let e = epochOf(s) else { continue }
                let norm = entry.squares.squareRoot()
                if let last = lastPerEpoch.last, last.epoch == e {
                    lastPerEpoch[lastPerEpoch.count - 1].norm = norm
                } else if lastPerEpoch.last.map({ $0.epoch < e }) ?? true {
                    lastPerEpoch.append((e, norm))
                }
            }
            for k in lastPerEpoch.indices.dropFirst() {
                let before = lastPerEpoch[k - 1].norm
                guard before > 0, before.isFinite, lastPerEpoch[k].norm.isFinite else { continue }
                byEpoch[lastPerEpoch[k].epoch, default: []].append((name, abs(lastPerEpoch[k].norm - before) / before))
            }
        }
        for e in byEpoch.keys.sorted() {
            stats.append(epoch: e, ratios: byEpoch[e] ?? [])
        }
        return stats
    }
}
