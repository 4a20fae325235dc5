import FinetopCore

/// The demo's model as the dashboard sees it: a base "pretrained" on digits 0–4, dropout and a new
/// head for digits 5–9, with Keras-style layer names and real parameter counts.
public final class DemoModel {
    public static let inputName = "input_layer"
    public static let dropoutName = "dropout"
    public static let headName = "head_dense"
    public static let classes = 5

    public let network: Network
    /// The flag of rows without weights (the input, dropout): Keras keeps one though it changes nothing.
    private var weightlessFlags: [String: Bool]

    init(network: Network) {
        self.network = network
        var flags = [Self.inputName: true]
        for layer in network.layers {
            switch layer {
            case .dense: continue
            case .dropout(let d): flags[d.name] = true
            }
        }
        weightlessFlags = flags
    }

    /// Builds the base, pre-trains it on `pretraining` (digits 0–4) with a throw-away head, then puts
    /// dropout and a fresh head on top and sets the plan's trainable flags.
    static func pretrained(plan: TrainingPlan, pretraining: Digits, rng: inout PCG32) -> DemoModel {
        var base: [DenseLayer] = []
        var width = Digits.pixels
        for (name, outputs) in zip(TrainingPlan.baseNames, plan.baseWidths) {
            base.append(DenseLayer(name: name, inputs: width, outputs: outputs, activation: .relu, rng: &rng))
            width = outputs
        }
        let pretrainHead = DenseLayer(name: "pretrain_head", inputs: width, outputs: classes, activation: .softmax,
                                      rng: &rng)
        let pretrainer = Network(inputSize: Digits.pixels, layers: base.map { .dense($0) } + [.dense(pretrainHead)])
        let optimizer = Optimizer.adam(learningRate: TrainingPlan.pretrainLearningRate)
        for _ in 0..<TrainingPlan.pretrainEpochs {
            _ = pretrainer.trainEpoch(on: pretraining, batchSize: TrainingPlan.pretrainBatchSize, optimizer: optimizer,
                                      rng: &rng) { _, _ in }
        }
        // A new optimizer for fine-tuning, as `model.compile` gives a new one in Keras.
        for layer in base { layer.resetOptimizer() }
        var layers: [NetworkLayer] = base.map { .dense($0) }
        if plan.dropout > 0 { layers.append(.dropout(DropoutLayer(name: dropoutName, rate: plan.dropout))) }
        layers.append(.dense(DenseLayer(name: headName, inputs: width, outputs: classes, activation: .softmax,
                                        rng: &rng)))
        let model = DemoModel(network: Network(inputSize: Digits.pixels, layers: layers))
        for layer in base { layer.trainable = plan.trainableBase.contains(layer.name) }
        return model
    }

    /// Every row name the model line lists, input to output.
    public var layerNames: [String] { [Self.inputName] + network.layers.map(\.name) }

    public func isTrainable(_ name: String) -> Bool? {
        if let flag = weightlessFlags[name] { return flag }
        return network.denseLayers.first { $0.name == name }?.trainable
    }

    /// Sets one layer's flag; true when it changed.
    @discardableResult
    public func setTrainable(_ name: String, _ flag: Bool) -> Bool {
        if let old = weightlessFlags[name] {
            weightlessFlags[name] = flag
            return old != flag
        }
        guard let dense = network.denseLayers.first(where: { $0.name == name }) else { return false }
        let old = dense.trainable
        dense.trainable = flag
        return old != flag
    }

    /// The `model` line's table at `revision`.
    public func layerTable(revision: Int) -> LayerTable {
        var rows = [Layer(name: Self.inputName, className: "InputLayer", shape: Self.shape(Digits.pixels),
                          params: 0, trainableParams: 0, trainable: weightlessFlags[Self.inputName] ?? true)]
        var width = Digits.pixels
        for layer in network.layers {
            switch layer {
            case .dense(let d):
                width = d.outputs
                rows.append(Layer(name: d.name, className: "Dense", shape: Self.shape(width), params: d.parameterCount,
                                  trainableParams: d.trainable ? d.parameterCount : 0, trainable: d.trainable))
            case .dropout(let d):
                rows.append(Layer(name: d.name, className: "Dropout", shape: Self.shape(width), params: 0,
                                  trainableParams: 0, trainable: weightlessFlags[d.name] ?? true))
            }
        }
        return LayerTable(revision: revision, layers: rows)
    }

    private static func shape(_ width: Int) -> String { "(None, \(width))" }
}

/// The averages of one pass over the training data.
public struct EpochResult: Sendable {
    public var loss: Double
    public var accuracy: Double
    public var steps: Int
}

extension Network {
    /// One pass over `data` in shuffled mini-batches; `onBatch` sees the step within the epoch and
    /// the running averages so far, as Keras's progress bar reports them.
    func trainEpoch(on data: Digits, batchSize: Int, optimizer: Optimizer, rng: inout PCG32,
                    onBatch: (Int, EpochResult) -> Void) -> EpochResult {
        var order = Array(0..<data.count)
        rng.shuffle(&order)
        var lossSum = 0.0
        var correct = 0
        var seen = 0
        var step = 0
        for start in stride(from: 0, to: order.count, by: batchSize) {
            let batch = data.rows(order[start..<min(start + batchSize, order.count)])
            let result = trainStep(batch.images, labels: batch.labels, optimizer: optimizer, rng: &rng)
            lossSum += result.loss * Double(result.count)
            correct += result.correct
            seen += result.count
            step += 1
            onBatch(step, EpochResult(loss: lossSum / Double(seen), accuracy: Double(correct) / Double(seen), steps: step))
        }
        return EpochResult(loss: lossSum / Double(max(seen, 1)), accuracy: Double(correct) / Double(max(seen, 1)),
                           steps: step)
    }
}
