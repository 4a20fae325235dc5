import Foundation
import Testing
@testable import FinetopCore

/// One parameter arithmetic for "params that become trainable if this layer is unfrozen", checked
/// against what real Keras and real PyTorch count.
@Suite struct ParamRuleTests {
    func model(_ fixture: String) throws -> LayerTable {
        try #require(try RunLoader.load(path: Fixture.path(fixture)).model)
    }

    /// Real Keras 3 (MobileNetV2 96, last 20 base layers unfrozen): for every trainable layer the
    /// rule predicts exactly the trainable count Keras reported (BatchNormalization: gamma and beta).
    @Test func kerasMobileNetV2EveryTrainableRowMatchesTheRule() throws {
        let table = try model("mobilenetv2_96_unfreeze20.events.jsonl")
        let trainable = table.layers.filter { $0.trainable && $0.hasWeights }
        #expect(trainable.count >= 10)
        #expect(trainable.contains { $0.className == "BatchNormalization" })
        for layer in trainable { #expect(layer.trainableParamsWhenUnfrozen == layer.trainableParams, "\(layer.name)") }
    }

    /// Freezing those rows and asking what unfreezing them gives back Keras's own total, 1,058,885.
    @Test func kerasRefreezeAndUnfreezeGivesKerasTotal() throws {
        let after = try model("mobilenetv2_96_unfreeze20.events.jsonl")
        #expect(after.totals.trainable == 1_058_885)
        let base = after.layers.filter { $0.trainable && $0.hasWeights && $0.className != "Dense" }
        var frozen = after.layers
        for i in frozen.indices where base.contains(where: { $0.name == frozen[i].name }) {
            frozen[i].trainable = false
            frozen[i].trainableParams = 0
        }
        let before = LayerTable(revision: 0, layers: frozen)
        #expect(before.totals.trainable < after.totals.trainable)
        let flags = Dictionary(uniqueKeysWithValues: base.map { ($0.name, true) })
        #expect(before.trainableAfter(flags) == 1_058_885)
    }

    /// Real PyTorch model lines written by the real helper (make_torch_runs.py): a BatchNorm2d's
    /// running statistics are buffers, so all of its `params` train; unfreezing the last 12 frozen
    /// rows predicts exactly the count PyTorch reported afterwards (+412,160 for features.18 alone).
    @Test func pytorchUnfreezePredictionEqualsWhatTheHelperReportsAfter() throws {
        let before = try model("torch_mobilenetlike_before.events.jsonl")
        let after = try model("torch_mobilenetlike_after.events.jsonl")
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Fixture.path("torch_mobilenetlike_unfreeze.json")))) as? [String: Any]
        let names = try #require(meta?["unfreeze"] as? [String])
        #expect(before.totals.trainable == meta?["trainable_before"] as? Int)
        #expect(after.totals.trainable == meta?["trainable_after"] as? Int)
        let flags = Dictionary(uniqueKeysWithValues: names.map { ($0, true) })
        #expect(before.trainableAfter(flags) == after.totals.trainable)
        #expect(before.trainableAfter(["features.18.0": true, "features.18.1": true]) - before.totals.trainable == 412_160)
        for cls in ["BatchNorm2d", "SyncBatchNorm", "LayerNorm", "GroupNorm"] {
            let row = try #require(before.layers.first { $0.className == cls })
            #expect(row.trainableParamsWhenUnfrozen == row.params, "\(cls)")
        }
    }

    @Test func learnableParamsFromTheJobWinOverTheClassNameRule() {
        let line = #"{"type": "model", "revision": 0, "optimizer_params": 5, "layers": ["#
            + #"{"name": "bn", "class": "BatchNormalization", "params": 128, "trainable_params": 0, "trainable": false, "learnable_params": 96},"#
            + #"{"name": "odd", "class": "Custom", "params": 10, "trainable_params": 0, "trainable": false, "learnable_params": 11},"#
            + #"{"name": "fc", "class": "Linear", "params": 10, "trainable_params": 2, "trainable": true, "partial": true},"#
            + #"{"name": "bn2", "class": "BatchNorm2d", "params": 4, "trainable_params": 0, "trainable": false, "stats_frozen": true}]}"#
        let run = builderRun([line])
        let table = run.model
        #expect(table?.optimizerParams == 5)
        #expect(table?.layers[0].learnableParams == 96)
        #expect(table?.layers[0].trainableParamsWhenUnfrozen == 96)
        // A count larger than the layer is not believed: the class-name rule decides.
        #expect(table?.layers[1].learnableParams == nil)
        #expect(table?.layers[2].partial == true)
        #expect(table?.layers[3].statsFrozen == true)
        #expect(table?.trainableAfter(["bn": true, "fc": true]) == 96 + 10)
    }

    @Test func theFallbackKnowsEachFrameworksNormLayers() {
        #expect(LearnableParams.byClassName("BatchNormalization", params: 128) == 64)   // Keras: moving stats are weights
        #expect(LearnableParams.byClassName("Normalization", params: 7) == 0)           // Keras preprocessing
        for cls in ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm", "LazyBatchNorm2d", "LayerNorm",
                    "GroupNorm", "InstanceNorm2d", "LayerNormalization", "GroupNormalization", "Conv2D", "Linear"] {
            #expect(LearnableParams.byClassName(cls, params: 128) == 128, "\(cls)")
        }
    }

    @Test func aLayerInsideAFrozenNestedModelTrainsNothing() {
        let table = LayerTable(revision: 0, layers: [
            Layer(name: "base", className: "Functional", params: 100, trainableParams: 0, trainable: false),
            Layer(name: "base/conv", className: "Conv2D", params: 60, trainableParams: 0, trainable: false, depth: 1),
            Layer(name: "base/bn", className: "BatchNormalization", params: 40, trainableParams: 0, trainable: false, depth: 1),
            Layer(name: "head", className: "Dense", params: 5, trainableParams: 5, trainable: true),
        ])
        #expect(table.trainableAfter(["base/conv": true]) == 5)
        #expect(table.trainableAfter(["base": true]) == 5 + 60 + 20)
        #expect(table.trainableAfter(["base": true, "base/bn": false]) == 5 + 60)
        #expect(table.trainableAfter(["head": false]) == 0)
    }
}
