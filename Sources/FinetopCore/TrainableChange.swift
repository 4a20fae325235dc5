extension LayerTable {
    /// The flags to write to control.json for a change the user made, so that the file says what
    /// the user will see once the job applies it (the helpers follow Keras's rules):
    ///
    /// - Unfreezing a layer inside a frozen nested model also unfreezes that model (Keras trains
    ///   nothing under a frozen ancestor, so the helper flips it). The file says so too, and pins
    ///   the model's other frozen layers that have no flag yet at `false`: applied to a fresh job,
    ///   the model's `true` would otherwise unfreeze them all (Keras's setter reaches every sub-layer).
    /// - Freezing a nested model sets the `true` flags inside it to `false`: a stale inner `true`
    ///   would make the helper unfreeze the model again.
    ///
    /// `desired` is what control.json holds now, `shown(layer)` the flag the user sees for a
    /// layer (pending or reported). Flags in `change` always win; the result contains them.
    public func consistentChange(_ change: [String: Bool], desired: [String: Bool],
                                 shown: (Layer) -> Bool) -> [String: Bool] {
        var out = change
        /// The flag in force for a row once `out` is applied: the change, else what is shown.
        func flag(_ i: Int) -> Bool { out[layers[i].name] ?? shown(layers[i]) }
        for (name, want) in change.sorted(by: { $0.key < $1.key }) {
            guard let i = index(named: name) else { continue }
            if want {
                let path = ancestors(of: i)
                for a in path where !flag(a) {
                    out[layers[a].name] = true
                    for k in descendants(of: a) where k != i && !path.contains(k) {
                        let n = layers[k].name
                        if layers[k].hasWeights && out[n] == nil && desired[n] == nil && !shown(layers[k]) { out[n] = false }
                    }
                }
            } else {
                for k in descendants(of: i) {
                    let n = layers[k].name
                    if change[n] == nil && (desired[n] == true || out[n] == true) { out[n] = false }
                }
            }
        }
        return out
    }

    /// Indices of the rows enclosing row `i`, outermost first (rows are in model order, `depth` nests).
    public func ancestors(of i: Int) -> [Int] {
        var out: [Int] = []
        var depth = layers[i].depth
        var j = i - 1
        while j >= 0 && depth > 0 {
            if layers[j].depth < depth {
                out.append(j)
                depth = layers[j].depth
            }
            j -= 1
        }
        return out.reversed()
    }

    /// Indices of the rows inside row `i` (a nested model's layers, at any depth).
    public func descendants(of i: Int) -> [Int] {
        var out: [Int] = []
        var j = i + 1
        while j < layers.count && layers[j].depth > layers[i].depth {
            out.append(j)
            j += 1
        }
        return out
    }
}
