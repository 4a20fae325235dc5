/// Rows of the layer table that belong together: a MobileNetV2 `block_16_*`, a torchvision
/// `features.3.*`, a transformer `encoder.layer.0.*` or `layers.5.*`, a nested Keras model's
/// `outer/block_2_*`. The dashboard folds and toggles a block as one.
public struct LayerBlock: Sendable, Equatable {
    /// The names' common block prefix (`block_16`, `features.3`, `bert.encoder.layer.0`), or the
    /// row's own name for a row that is a block by itself.
    public var name: String
    /// Indices into the layer list, consecutive, in order.
    public var rows: Range<Int>
    public var params: Int
    public var trainableParams: Int

    public init(name: String, rows: Range<Int>, params: Int, trainableParams: Int) {
        self.name = name
        self.rows = rows
        self.params = params
        self.trainableParams = trainableParams
    }

    /// Some rows with weights train, others do not.
    public var isPartlyTrainable: Bool { trainableParams > 0 && trainableParams < params }
}

public enum LayerBlocks {
    /// Groups consecutive rows with the same block key into blocks, in the layers' order. A lone row
    /// between two rows of one block joins it (`bn_Conv1` between `Conv1` and `Conv1_relu`).
    public static func group(_ layers: [Layer]) -> [LayerBlock] {
        let keys = layers.map { key(of: $0.name) }
        var runs: [(key: String, rows: Range<Int>)] = []
        for (i, k) in keys.enumerated() {
            if let last = runs.last, last.key == k {
                runs[runs.count - 1].rows = last.rows.lowerBound..<(i + 1)
            } else {
                runs.append((k, i..<(i + 1)))
            }
        }
        var merged: [(key: String, rows: Range<Int>)] = []
        var i = 0
        while i < runs.count {
            if i + 2 < runs.count, runs[i + 1].rows.count == 1, runs[i].key == runs[i + 2].key {
                merged.append((runs[i].key, runs[i].rows.lowerBound..<runs[i + 2].rows.upperBound))
                i += 3
                // A block may continue after the merge (`A x A y A`): fold further runs in.
                while i + 1 < runs.count, runs[i].rows.count == 1, runs[i + 1].key == merged[merged.count - 1].key {
                    merged[merged.count - 1].rows = merged[merged.count - 1].rows.lowerBound..<runs[i + 1].rows.upperBound
                    i += 2
                }
                continue
            }
            merged.append(runs[i])
            i += 1
        }
        return merged.map { run in
            var params = 0, trainable = 0
            for r in run.rows {
                params += layers[r].params
                trainable += layers[r].trainableParams
            }
            return LayerBlock(name: run.key, rows: run.rows, params: params, trainableParams: trainable)
        }
    }

    /// The block a row name belongs to. Nested Keras names (`outer/inner`) keep the outer path
    /// and group by the inner name. Dotted (PyTorch) names: up to the first number that has more
    /// after it (`features.3.conv.0` → `features.3`), else the parent module (`bert.pooler.dense`
    /// → `bert.pooler`; `classifier.1` → `classifier`). Underscore (Keras) names: up to the
    /// first token with a digit that has more after it (`block_16_expand_BN` → `block_16`,
    /// `block1_conv2` → `block1`, `Conv_1_bn` → `Conv_1`), else the first two of three or more
    /// tokens (`expanded_conv_project` → `expanded_conv`), else the name itself (`dense_1`).
    public static func key(of name: String) -> String {
        if let slash = name.lastIndex(of: "/") {
            let outer = name[..<slash]
            return outer + "/" + key(of: String(name[name.index(after: slash)...]))
        }
        if name.contains(".") {
            let parts = name.split(separator: ".", omittingEmptySubsequences: false)
            if let n = parts.firstIndex(where: { !$0.isEmpty && $0.allSatisfy(\.isNumber) }), n + 1 < parts.count, n > 0 {
                return parts[...n].joined(separator: ".")
            }
            return parts.count > 1 ? parts.dropLast().joined(separator: ".") : name
        }
        let tokens = name.split(separator: "_", omittingEmptySubsequences: false)
        if let n = tokens.firstIndex(where: { $0.contains(where: \.isNumber) }) {
            return n + 1 < tokens.count ? tokens[...n].joined(separator: "_") : name
        }
        return tokens.count >= 3 ? tokens[..<2].joined(separator: "_") : name
    }
}
