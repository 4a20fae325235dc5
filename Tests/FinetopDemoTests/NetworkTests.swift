import FinetopCore
@testable import FinetopDemo
import Foundation
import Testing

@Suite struct NetworkTests {
    /// A 4 → 5 (ReLU) → 3 (softmax) net on three random rows.
    private func tinyNet(seed: UInt64) -> (Network, [Double], [Int]) {
        var rng = PCG32(seed: seed)
        let hidden = DenseLayer(name: "hidden", inputs: 4, outputs: 5, activation: .relu, rng: &rng)
        let out = DenseLayer(name: "out", inputs: 5, outputs: 3, activation: .softmax, rng: &rng)
        for k in out.bias.indices { out.bias[k] = rng.nextDouble() - 0.5 }
        for k in hidden.bias.indices { hidden.bias[k] = rng.nextDouble() * 0.2 }
        let x = (0..<12).map { _ in rng.nextDouble() * 2 - 1 }
        return (Network(inputSize: 4, layers: [.dense(hidden), .dense(out)]), x, [0, 2, 1])
    }

    private func loss(_ net: Network, _ x: [Double], _ labels: [Int]) -> Double {
        net.evaluate(x, labels: labels).loss
    }

    @Test func gradientsMatchFiniteDifferences() {
        let (net, x, labels) = tinyNet(seed: 7)
        var rng = PCG32(seed: 0)
        net.computeGradients(x, labels: labels, training: false, rng: &rng)
        var worst = 0.0
        for layer in net.denseLayers {
            worst = max(worst, worstError(layer, \.weights, layer.weightGradient, net, x, labels))
            worst = max(worst, worstError(layer, \.bias, layer.biasGradient, net, x, labels))
        }
        print("gradient check: worst relative error \(worst)")
        #expect(worst < 1e-4, "worst relative error \(worst)")
    }

    /// The largest relative error between `analytic` and central differences of the loss over
    /// every value in `layer[keyPath: values]`.
    private func worstError(_ layer: DenseLayer, _ values: ReferenceWritableKeyPath<DenseLayer, [Double]>,
                            _ analytic: [Double], _ net: Network, _ x: [Double], _ labels: [Int]) -> Double {
        let h = 1e-6
        var worst = 0.0
        for k in layer[keyPath: values].indices {
            let saved = layer[keyPath: values][k]
            layer[keyPath: values][k] = saved + h
            let up = loss(net, x, labels)
            layer[keyPath: values][k] = saved - h
            let down = loss(net, x, labels)
            layer[keyPath: values][k] = saved
            worst = max(worst, relativeError(analytic[k], (up - down) / (2 * h)))
        }
        return worst
    }

    private func relativeError(_ a: Double, _ b: Double) -> Double {
        let scale = max(abs(a) + abs(b), 1e-7)
        return abs(a - b) / scale
    }

    @Test func frozenLayerIsBitIdenticalAfterAnEpoch() throws {
        let data = try digits().rows(0..<256)
        var rng = PCG32(seed: 3)
        let first = DenseLayer(name: "dense_1", inputs: 64, outputs: 32, activation: .relu, rng: &rng)
        let second = DenseLayer(name: "dense_2", inputs: 32, outputs: 10, activation: .softmax, rng: &rng)
        let net = Network(inputSize: 64, layers: [.dense(first), .dropout(DropoutLayer(name: "dropout", rate: 0.2)),
                                                  .dense(second)])
        _ = net.trainEpoch(on: data, batchSize: 32, optimizer: .adam(learningRate: 1e-2), rng: &rng) { _, _ in }
        first.trainable = false
        let frozenWeights = first.weights.bitPatterns
        let frozenBias = first.bias.bitPatterns
        let frozenSteps = first.optimizerSteps
        let otherWeights = second.weights
        _ = net.trainEpoch(on: data, batchSize: 32, optimizer: .adam(learningRate: 1e-2), rng: &rng) { _, _ in }
        #expect(first.weights.bitPatterns == frozenWeights)
        #expect(first.bias.bitPatterns == frozenBias)
        #expect(first.optimizerSteps == frozenSteps)
        #expect(second.weights != otherWeights)
        #expect(second.optimizerSteps == 2 * frozenSteps)
    }

    @Test func learnsAllTenDigitsWellAboveChance() throws {
        let all = try digits()
        var rng = PCG32(seed: 11)
        var order = Array(0..<all.count)
        rng.shuffle(&order)
        let train = all.rows(order[0..<1200])
        let validation = all.rows(order[1200...])
        var width = 64
        var layers: [NetworkLayer] = []
        for (name, outputs) in zip(["dense_1", "dense_2", "dense_3"], [64, 32, 16]) {
            layers.append(.dense(DenseLayer(name: name, inputs: width, outputs: outputs, activation: .relu, rng: &rng)))
            width = outputs
        }
        layers.append(.dense(DenseLayer(name: "head", inputs: width, outputs: 10, activation: .softmax, rng: &rng)))
        let net = Network(inputSize: 64, layers: layers)
        let started = Date()
        var accuracy = 0.0
        for _ in 0..<15 {
            _ = net.trainEpoch(on: train, batchSize: 32, optimizer: .adam(learningRate: 5e-3), rng: &rng) { _, _ in }
            accuracy = net.evaluate(validation.images, labels: validation.labels).accuracy
        }
        let seconds = Date().timeIntervalSince(started)
        print("digits 0-9: validation accuracy \(accuracy) after 15 epochs in \(seconds) s")
        #expect(accuracy > 0.85)
    }

    @Test func sameSeedGivesTheSameNumbers() {
        var a = PCG32(seed: 42)
        var b = PCG32(seed: 42)
        var c = PCG32(seed: 43)
        let xs = (0..<5).map { _ in a.next() }
        #expect(xs == (0..<5).map { _ in b.next() })
        #expect(xs != (0..<5).map { _ in c.next() })
        var u = PCG32(seed: 1)
        #expect((0..<1000).allSatisfy { _ in (0..<1).contains(u.nextDouble()) })
    }
}
