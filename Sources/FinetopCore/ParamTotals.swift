/// Parameter counts split the way Keras's `model.summary()` splits them.
public struct ParamTotals: Sendable, Equatable {
    public var total: Int
    public var trainable: Int
    public var nonTrainable: Int { total - trainable }

    public init(total: Int, trainable: Int) {
        self.total = total
        self.trainable = trainable
    }

    /// Sums the layers that are not inside another listed layer, so a nested model's row and its
    /// children are not counted twice (the row already carries its children's weights).
    public init(countingTopLevelOf layers: [Layer]) {
        var total = 0
        var trainable = 0
        var stackDepths: [Int] = []
        for layer in layers {
            while let top = stackDepths.last, top >= layer.depth { stackDepths.removeLast() }
            if stackDepths.isEmpty {
                total &+= max(0, layer.params)
                trainable &+= max(0, layer.trainableParams)
            }
            stackDepths.append(layer.depth)
        }
        self.total = total
        self.trainable = trainable
    }

    /// The three lines Keras prints under a summary.
    public var kerasLines: [String] {
        [
            "Total params: \(KerasFormat.count(total)) (\(KerasFormat.memory(params: total)))",
            "Trainable params: \(KerasFormat.count(trainable)) (\(KerasFormat.memory(params: trainable)))",
            "Non-trainable params: \(KerasFormat.count(nonTrainable)) (\(KerasFormat.memory(params: nonTrainable)))",
        ]
    }
}

extension Layer {
    /// How many params become trainable if this layer is unfrozen: the one rule the dashboard's
    /// "After N pending" totals and the diagnosis's "unfreeze the last N" both use.
    /// The job's own count (`learnable_params`) when the model line has one; else by class name.
    public var trainableParamsWhenUnfrozen: Int {
        if let n = learnableParams { return min(max(0, n), params) }
        return LearnableParams.byClassName(className, params: params)
    }
}

/// The fallback for logs whose rows do not say how many params would train.
public enum LearnableParams {
    /// Keras's BatchNormalization holds four equal vectors (gamma, beta, moving mean, moving
    /// variance) and trains two; its `Normalization` preprocessing layer trains none. PyTorch rows
    /// count only a module's own `parameters()` (BatchNorm1d/2d/3d, SyncBatchNorm, LayerNorm,
    /// GroupNorm: weight and bias; running statistics are buffers), so all of them train.
    public static func byClassName(_ className: String, params: Int) -> Int {
        switch className {
        case "BatchNormalization", "SyncBatchNormalization": return params / 2
        case "Normalization": return 0
        default: return params
        }
    }
}

extension LayerTable {
    /// Trainable params once `flags` (layer name → trainable) are applied the way the helpers apply
    /// them: a flag on a nested model or container covers everything inside it unless a deeper
    /// flag says otherwise, and a layer inside a frozen model trains nothing. Layers no flag
    /// reaches keep what the job reported.
    public func trainableAfter(_ flags: [String: Bool]) -> Int {
        guard !flags.isEmpty else { return totals.trainable }
        /// One enclosing row: its depth, the flag it passes down (if any), whether it trains.
        struct Enclosing { var depth: Int; var passedDown: Bool?; var on: Bool }
        var stack: [Enclosing] = []
        var delta = 0
        for (i, layer) in layers.enumerated() {
            while let top = stack.last, top.depth >= layer.depth { stack.removeLast() }
            let inherited = stack.last?.passedDown
            let reached = flags[layer.name] ?? inherited
            let own = reached ?? layer.trainable
            let enclosingOn = stack.allSatisfy(\.on)
            let isLeaf = i + 1 == layers.count || layers[i + 1].depth <= layer.depth
            if isLeaf && reached != nil {
                let after = own && enclosingOn ? layer.trainableParamsWhenUnfrozen : 0
                delta += after - layer.trainableParams
            }
            stack.append(Enclosing(depth: layer.depth, passedDown: reached, on: own))
        }
        return min(totals.total, max(0, totals.trainable + delta))
    }
}

/// Number formatting exactly as Keras prints it.
public enum KerasFormat {
    /// `2257984` → `2,257,984`.
    public static func count(_ n: Int) -> String {
        let digits = String(n.magnitude)
        var out = ""
        out.reserveCapacity(digits.count + digits.count / 3 + 1)
        for (k, ch) in digits.enumerated() {
            if k > 0 && (digits.count - k) % 3 == 0 { out.append(",") }
            out.append(ch)
        }
        return n < 0 ? "-" + out : out
    }

    /// Keras's `readable_memory_size` for float32 weights: 4 bytes each, 1024-based units, two decimals.
    public static func memory(params: Int, bytesPerParam: Int = 4) -> String {
        memory(bytes: Double(params) * Double(bytesPerParam))
    }

    public static func memory(bytes: Double) -> String {
        let units = ["B", "KB", "MB", "GB", "TB", "PB"]
        var size = bytes
        for unit in units {
            if size / 1024 < 1 { return fixed2(size) + " " + unit }
            size /= 1024
        }
        return fixed2(size) + " PB"
    }

    /// `%.2f` without Foundation's locale: Python's format rounds half to even on the binary value,
    /// which is what printf does.
    static func fixed2(_ v: Double) -> String {
        var buffer = [CChar](repeating: 0, count: 64)
        _ = withVaList([v]) { vsnprintf(&buffer, 64, "%.2f", $0) }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
