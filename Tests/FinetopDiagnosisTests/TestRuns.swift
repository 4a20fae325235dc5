import FinetopCore
@testable import FinetopDiagnosis

/// Runs built in code: the curves, and optionally a model and hyper-parameters.
enum TestRuns {
    static func run(loss: [Double], val: [Double]? = nil, accuracy: [Double]? = nil, valAccuracy: [Double]? = nil,
                    format: LogFormat = .eventsFile, model: [Layer]? = nil, hparams: HParams = HParams()) -> Run {
        var run = Run(format: format)
        run.info = RunInfo(framework: "keras", hparams: hparams)
        run.model = model.map { LayerTable(revision: 0, layers: $0) }
        run.epochs = loss.indices.map { i in
            var values = ["loss": loss[i]]
            if let val, i < val.count { values["val_loss"] = val[i] }
            if let accuracy, i < accuracy.count { values["accuracy"] = accuracy[i] }
            if let valAccuracy, i < valAccuracy.count { values["val_accuracy"] = valAccuracy[i] }
            return EpochRecord(epoch: i, values: values)
        }
        return run
    }

    /// A textbook overfitting run: both losses fall, val bottoms out at `bottom` and climbs 6% an epoch.
    static func overfitting(epochs: Int = 30, bottom: Int = 10) -> Run {
        let train = (0..<epochs).map { 2.0 * pow(0.8, Double($0)) }
        let val = (0..<epochs).map { i in
            i <= bottom ? 2.0 * pow(0.9, Double(i)) : 2.0 * pow(0.9, Double(bottom)) * pow(1.06, Double(i - bottom))
        }
        return run(loss: train, val: val)
    }

    /// Deterministic noise in -1...1 (a linear congruential generator), so failures reproduce.
    struct Noise {
        var state: UInt64
        mutating func next() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(state >> 11) / Double(1 << 53) * 2 - 1
        }
    }

    static func layer(_ name: String, _ cls: String, params: Int, trainable: Bool, depth: Int = 0, shape: String = "") -> Layer {
        let trained = trainable ? (cls.contains("BatchNormalization") ? params / 2 : params) : 0
        return Layer(name: name, className: cls, shape: shape, params: params, trainableParams: trained,
                     trainable: trainable, depth: depth)
    }

    /// A small fine-tuning model: a frozen base of conv/BN pairs, a trainable head.
    static var smallModel: [Layer] {
        [
            layer("input", "InputLayer", params: 0, trainable: false),
            layer("conv1", "Conv2D", params: 864, trainable: false),
            layer("bn1", "BatchNormalization", params: 128, trainable: false),
            layer("relu1", "ReLU", params: 0, trainable: false),
            layer("conv2", "Conv2D", params: 4608, trainable: false),
            layer("bn2", "BatchNormalization", params: 256, trainable: false),
            layer("pool", "GlobalAveragePooling2D", params: 0, trainable: false),
            layer("dense", "Dense", params: 8256, trainable: true),
            layer("out", "Dense", params: 650, trainable: true, shape: "(None, 10)"),
        ]
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
