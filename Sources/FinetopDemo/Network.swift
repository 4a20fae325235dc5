/// What a dense layer applies to `x·W + b`. `softmax` is folded into the loss, so the network's
/// output for a softmax layer is its logits.
public enum Activation: String, Sendable {
    case relu
    case softmax
}

/// How the weights follow their gradients.
public enum Optimizer: Sendable, Equatable {
    /// Adam with Keras's defaults. Each layer keeps its own moments and step count, so a frozen
    /// layer's optimizer state stays exactly as it was.
    case adam(learningRate: Double)
    /// Plain gradient descent: `w -= learningRate · g`.
    case sgd(learningRate: Double)

    /// The name the `run` line reports, as Keras spells it.
    public var name: String {
        switch self {
        case .adam: return "adam"
        case .sgd: return "sgd"
        }
    }

    public var learningRate: Double {
        switch self {
        case .adam(let rate), .sgd(let rate): return rate
        }
    }

    /// The same optimizer with another learning rate.
    public func with(learningRate: Double) -> Optimizer {
        switch self {
        case .adam: return .adam(learningRate: learningRate)
        case .sgd: return .sgd(learningRate: learningRate)
        }
    }
}

/// Adam's constants (Keras's defaults).
enum AdamConstants {
    static let beta1 = 0.9
    static let beta2 = 0.999
    static let epsilon = 1e-7
}

/// A fully connected layer `y = activation(x·W + b)`, with its gradients and Adam state.
/// `W` is `inputs × outputs`, row-major, so the inner loops run over contiguous memory.
public final class DenseLayer {
    public let name: String
    public let inputs: Int
    public let outputs: Int
    public let activation: Activation
    public internal(set) var weights: [Double]
    public internal(set) var bias: [Double]
    /// Keras's `layer.trainable`: when false the layer gets no gradients and no updates.
    public var trainable = true
    /// This layer's rate as a factor of the optimizer's (its own param group, as PyTorch gives the
    /// layers an unfreeze with `unfreeze_lr_factor` brings in); 1 for the head.
    public internal(set) var rateFactor = 1.0
    public internal(set) var weightGradient: [Double]
    public internal(set) var biasGradient: [Double]
    // Adam's running moments; separate properties so one update can write all of them at once.
    private var weightsMean: [Double]
    private var weightsVariance: [Double]
    private var biasMean: [Double]
    private var biasVariance: [Double]
    /// The optimizer's step count for this layer (unchanged while frozen).
    public private(set) var optimizerSteps = 0
    private var lastInput: [Double] = []
    private var lastOutput: [Double] = []

    /// Glorot-uniform weights and zero biases, as Keras initializes a Dense layer.
    public init(name: String, inputs: Int, outputs: Int, activation: Activation, rng: inout PCG32) {
        self.name = name
        self.inputs = inputs
        self.outputs = outputs
        self.activation = activation
        let limit = (6.0 / Double(inputs + outputs)).squareRoot()
        weights = (0..<inputs * outputs).map { _ in (rng.nextDouble() * 2 - 1) * limit }
        bias = [Double](repeating: 0, count: outputs)
        weightGradient = [Double](repeating: 0, count: inputs * outputs)
        biasGradient = [Double](repeating: 0, count: outputs)
        weightsMean = [Double](repeating: 0, count: inputs * outputs)
        weightsVariance = weightsMean
        biasMean = [Double](repeating: 0, count: outputs)
        biasVariance = biasMean
    }

    public var parameterCount: Int { weights.count + bias.count }

    func forward(_ x: [Double], batch: Int) -> [Double] {
        var out = [Double](repeating: 0, count: batch * outputs)
        Kernels.affine(x, weights, bias, into: &out, rows: batch, inputs: inputs, outputs: outputs)
        switch activation {
        case .relu: Kernels.relu(&out)
        case .softmax: break
        }
        lastInput = x
        lastOutput = out
        return out
    }

    /// Takes the gradient with respect to this layer's output; fills the weight gradients when
    /// trainable and returns the gradient with respect to its input when `needsInputGradient`.
    func backward(_ outputGradient: [Double], batch: Int, needsInputGradient: Bool) -> [Double] {
        var dz = outputGradient
        switch activation {
        case .relu: Kernels.maskWhereNotPositive(&dz, by: lastOutput)
        case .softmax: break
        }
        if trainable {
            Kernels.weightGradient(lastInput, dz, into: &weightGradient, &biasGradient,
                                   rows: batch, inputs: inputs, outputs: outputs)
        }
        guard needsInputGradient else { return [] }
        var dx = [Double](repeating: 0, count: batch * inputs)
        Kernels.inputGradient(dz, weights, into: &dx, rows: batch, inputs: inputs, outputs: outputs)
        return dx
    }

    /// A fresh optimizer state, as a new `model.compile` gives in Keras.
    func resetOptimizer() {
        weightsMean = [Double](repeating: 0, count: weights.count)
        weightsVariance = weightsMean
        biasMean = [Double](repeating: 0, count: bias.count)
        biasVariance = biasMean
        optimizerSteps = 0
    }

    /// One update from the current gradients; a frozen layer is left exactly as it is.
    func update(with optimizer: Optimizer) {
        guard trainable else { return }
        optimizerSteps += 1
        switch optimizer {
        case .adam(let baseRate):
            let learningRate = baseRate * rateFactor
            let t = Double(optimizerSteps)
            let rate = learningRate * (1 - pow(AdamConstants.beta2, t)).squareRoot() / (1 - pow(AdamConstants.beta1, t))
            Kernels.adamStep(&weights, weightGradient, &weightsMean, &weightsVariance, rate)
            Kernels.adamStep(&bias, biasGradient, &biasMean, &biasVariance, rate)
        case .sgd(let baseRate):
            Kernels.descend(&weights, weightGradient, baseRate * rateFactor)
            Kernels.descend(&bias, biasGradient, baseRate * rateFactor)
        }
    }
}

/// Inverted dropout: in training each unit is zeroed with probability `rate` and the survivors are
/// scaled by 1/(1−rate); at inference it passes values through.
public final class DropoutLayer {
    public let name: String
    public let rate: Double
    private var mask: [Double] = []

    public init(name: String, rate: Double) {
        self.name = name
        self.rate = rate
    }

    func forward(_ x: [Double], training: Bool, rng: inout PCG32) -> [Double] {
        guard training, rate > 0 else {
            mask = []
            return x
        }
        let keep = 1 / (1 - rate)
        mask = x.map { _ in rng.nextDouble() < rate ? 0 : keep }
        var out = x
        for i in out.indices { out[i] *= mask[i] }
        return out
    }

    func backward(_ outputGradient: [Double]) -> [Double] {
        guard !mask.isEmpty else { return outputGradient }
        var dx = outputGradient
        for i in dx.indices { dx[i] *= mask[i] }
        return dx
    }
}

/// One row of the network, in order from input to output.
public enum NetworkLayer {
    case dense(DenseLayer)
    case dropout(DropoutLayer)

    public var name: String {
        switch self {
        case .dense(let d): return d.name
        case .dropout(let d): return d.name
        }
    }
}

/// A feed-forward classifier: dense layers and dropout, softmax cross-entropy at the end.
public final class Network {
    public let inputSize: Int
    public internal(set) var layers: [NetworkLayer]

    public init(inputSize: Int, layers: [NetworkLayer]) {
        self.inputSize = inputSize
        self.layers = layers
    }

    public var denseLayers: [DenseLayer] {
        layers.compactMap { layer in
            switch layer {
            case .dense(let d): return d
            case .dropout: return nil
            }
        }
    }

    public var classes: Int { denseLayers.last?.outputs ?? 0 }

    /// The logits for `batch` rows of `x`.
    public func logits(_ x: [Double], batch: Int, training: Bool, rng: inout PCG32) -> [Double] {
        var a = x
        for layer in layers {
            switch layer {
            case .dense(let d): a = d.forward(a, batch: batch)
            case .dropout(let d): a = d.forward(a, training: training, rng: &rng)
            }
        }
        return a
    }

    /// Back-propagates the loss gradient of the last `logits` call, filling the gradients of the
    /// trainable layers; stops below the lowest trainable layer, since nothing there learns.
    func backward(_ logitsGradient: [Double], batch: Int) {
        guard let lowest = layers.firstIndex(where: { Self.isTrainableDense($0) }) else { return }
        var g = logitsGradient
        for index in stride(from: layers.count - 1, through: lowest, by: -1) {
            switch layers[index] {
            case .dense(let d): g = d.backward(g, batch: batch, needsInputGradient: index > lowest)
            case .dropout(let d): g = d.backward(g)
            }
        }
    }

    private static func isTrainableDense(_ layer: NetworkLayer) -> Bool {
        switch layer {
        case .dense(let d): return d.trainable
        case .dropout: return false
        }
    }

    /// The loss of one batch and its gradients in the trainable layers (no update).
    @discardableResult
    public func computeGradients(_ x: [Double], labels: [Int], training: Bool, rng: inout PCG32) -> BatchResult {
        let out = logits(x, batch: labels.count, training: training, rng: &rng)
        let result = SoftmaxCrossEntropy.evaluate(logits: out, labels: labels, classes: classes)
        backward(result.gradient, batch: labels.count)
        return result
    }

    /// One optimizer step on one batch: forward with dropout, backward, update.
    @discardableResult
    public func trainStep(_ x: [Double], labels: [Int], optimizer: Optimizer, rng: inout PCG32) -> BatchResult {
        let result = computeGradients(x, labels: labels, training: true, rng: &rng)
        for d in denseLayers { d.update(with: optimizer) }
        return result
    }

    /// Loss and accuracy without dropout or updates.
    public func evaluate(_ x: [Double], labels: [Int]) -> BatchResult {
        var unused = PCG32(seed: 0)
        let out = logits(x, batch: labels.count, training: false, rng: &unused)
        return SoftmaxCrossEntropy.evaluate(logits: out, labels: labels, classes: classes)
    }
}

/// The mean loss of a batch, its gradient with respect to the logits, and how many were right.
public struct BatchResult {
    public var loss: Double
    public var correct: Int
    public var count: Int
    var gradient: [Double]
    public var accuracy: Double { count == 0 ? 0 : Double(correct) / Double(count) }
}

/// Softmax followed by cross-entropy, computed together for numerical stability.
enum SoftmaxCrossEntropy {
    static func evaluate(logits: [Double], labels: [Int], classes: Int) -> BatchResult {
        let n = labels.count
        var gradient = [Double](repeating: 0, count: logits.count)
        var total = 0.0
        var correct = 0
        for i in 0..<n {
            let row = logits[i * classes..<(i + 1) * classes]
            let top = row.max() ?? 0
            let exps = row.map { exp($0 - top) }
            let sum = exps.reduce(0, +)
            let label = labels[i]
            total += -(row[row.startIndex + label] - top - log(sum))
            if let best = row.indices.max(by: { row[$0] < row[$1] }), best - row.startIndex == label { correct += 1 }
            for c in 0..<classes {
                gradient[i * classes + c] = (exps[c] / sum - (c == label ? 1 : 0)) / Double(n)
            }
        }
        return BatchResult(loss: total / Double(n), correct: correct, count: n, gradient: gradient)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
