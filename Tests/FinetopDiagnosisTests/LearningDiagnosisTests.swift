import FinetopCore
@testable import FinetopDiagnosis
import Testing

/// The diagnosis reads the per-layer update ratios (issue 15): real Keras runs written by
/// `finetop.keras.fit` (Corpus/learning/make_learning_runs.py), each with a `layer_stats` line per epoch.
@Suite struct LearningDiagnosisTests {
    static func load(_ name: String) throws -> Run {
        try RunLoader.load(path: CorpusEvaluation.directory + "learning/\(name)/events.jsonl")
    }

    /// SGD at 1e-5: the loss falls 0.00005 an epoch, cleanly (no noise to hide it), while accuracy
    /// stays at chance. Without the layer stats the rules read "still falling, train longer".
    @Test func aRateTooLowForTheLayersThatTrainIsUnderfittingWithRaiseTheRate() throws {
        let run = try Self.load("tiny_rate")
        let d = Diagnoser.diagnose(run).current
        #expect(d.label == .underfitting)
        #expect(d.evidence.contains { $0.hasPrefix("every trainable layer barely moves") && $0.contains("too low") },
                "\(d.evidence)")
        #expect(d.suggestions.first?.id == "raise_learning_rate", "\(d.suggestions.map(\.text))")
        #expect(d.suggestions.first?.text.contains("raise SGD's learning rate to 0.0001 (10× the current 1e-05)") == true,
                "\(d.suggestions.first?.text ?? "")")
        #expect(!d.suggestions.contains { $0.id == "train_longer" })
        #expect(!d.evidence.contains { $0.contains("more epochs would help") }, "\(d.evidence)")
        // The base was unfrozen at the end of epoch 4 and barely moves either.
        #expect(d.evidence.contains { $0.contains("the layer you unfroze last (base_dense) does not learn") }, "\(d.evidence)")
        #expect(d.learning?.unfrozen.notLearning == ["base_dense"])
        // The same curves without the layer stats: the clean slow fall reads as learning.
        var blind = run
        blind.layerStats = LayerStats()
        #expect(Diagnoser.diagnose(blind).current.label == .fit)
    }

    @Test func theLayerUnfrozenWithAGoodRateLearns() throws {
        let d = Diagnoser.diagnose(try Self.load("good_rate")).current
        #expect(d.label == .fit)
        #expect(d.evidence.contains { $0.contains("the layer you unfroze last (base_dense) learns") }, "\(d.evidence)")
        #expect(!d.suggestions.contains { $0.id.hasPrefix("raise") })
        #expect(d.learning?.unfrozen.learning == ["base_dense"])
        #expect(d.learning?.barelyMoving == [])
    }

    /// SGD at 20 on raw pixels: the head moves ~87× its own size in epoch 1, then its ReLUs are dead (ratio 0).
    @Test func divergingWithRatiosFarAboveTheBandBlamesTheRate() throws {
        let report = Diagnoser.diagnose(try Self.load("huge_rate"))
        let d = report.current
        #expect(d.label == .diverging)
        #expect(d.evidence.contains { $0.hasPrefix("head_out and 1 more moved far above the band") && $0.contains("epoch 1")
            && $0.contains("too high") }, "\(d.evidence)")
        #expect(d.evidence.contains { $0.contains("stopped moving (update ratio 0)") })
        let lower = try #require(d.suggestions.first { $0.id == "lower_learning_rate" })
        #expect(lower.text.contains("lower SGD's learning rate to 2 (the current 20 ÷ 10)") && lower.text.contains("head_out moved"),
                "\(lower.text)")
        let json = try JSONParser.parse(report.json)
        let far = json["learning"]?["far_above_band"]?.array ?? []
        #expect(far.first?["layer"]?.string == "head_out")
        #expect(json["learning"]?["steps_per_epoch"]?.int == 38)
    }

    @Test func runsWithoutLayerStatsKeepTheirJsonShape() throws {
        let report = Diagnoser.diagnose(TestRuns.overfitting())
        let json = try JSONParser.parse(report.json)
        #expect(json["learning"] == nil)
        #expect(report.current.learning == nil)
    }

    /// A fine-tuning model whose head and last unfrozen block learn: the advice names the next
    /// frozen block, with the flags the dashboard can apply.
    @Test func theNextFrozenBlockIsOfferedWhenTheTrainingLayersLearn() {
        let layers = [
            TestRuns.layer("input", "InputLayer", params: 0, trainable: false),
            TestRuns.layer("block_1_conv", "Conv2D", params: 800, trainable: false),
            TestRuns.layer("block_1_bn", "BatchNormalization", params: 64, trainable: false),
            TestRuns.layer("block_2_conv", "Conv2D", params: 1600, trainable: false),
            TestRuns.layer("block_2_bn", "BatchNormalization", params: 64, trainable: false),
            TestRuns.layer("block_3_conv", "Conv2D", params: 3200, trainable: true),
            TestRuns.layer("block_3_bn", "BatchNormalization", params: 64, trainable: true),
            TestRuns.layer("pool", "GlobalAveragePooling2D", params: 0, trainable: false),
            TestRuns.layer("out", "Dense", params: 650, trainable: true, shape: "(None, 10)"),
        ]
        // Still improving: fit, "keep going".
        let loss = (0..<12).map { 2.0 * pow(0.85, Double($0)) }
        var run = TestRuns.run(loss: loss, val: loss.map { $0 * 1.1 }, model: layers)
        run.epochs = run.epochs.enumerated().map { i, e in var e = e; e.step = 100 * (i + 1); return e }
        run.acks = [ControlAck(revision: 1, status: .applied, changed: ["block_3_conv", "block_3_bn"])]
        for e in 0..<12 {
            run.layerStats.append(epoch: e, ratios: [("block_1_conv", 0), ("block_1_bn", 0), ("block_2_conv", 0), ("block_2_bn", 0),
                                                   ("block_3_conv", 0.02), ("block_3_bn", 0.01), ("out", 0.05)]) { name in
                !name.hasPrefix("block_3") && name != "out"
            }
        }
        let d = Diagnoser.diagnose(run).current
        #expect(d.label == .fit)
        let next = d.suggestions.first { $0.id == "unfreeze_next_block" }
        #expect(next?.text.hasPrefix("unfreeze block_2 next (2 layers): +1,632 trainable params") == true, "\(d.suggestions.map(\.text))")
        #expect(next?.action == .setTrainable(["block_2_conv": true, "block_2_bn": true]))
        #expect(d.evidence.contains { $0.contains("the 2 layers you unfroze last (block_3_conv, block_3_bn) learn") }, "\(d.evidence)")
        // The same run whose unfrozen block barely moves: raise their rate first, no deeper unfreeze.
        var stuck = run
        stuck.layerStats = LayerStats()
        for e in 0..<12 {
            stuck.layerStats.append(epoch: e, ratios: [("block_2_conv", 0), ("block_3_conv", 1e-6), ("block_3_bn", 2e-6), ("out", 0.05)]) { name in
                !name.hasPrefix("block_3") && name != "out"
            }
        }
        let s = Diagnoser.diagnose(stuck).current
        #expect(s.suggestions.first?.id == "raise_unfrozen_rate", "\(s.suggestions.map(\.text))")
        #expect(s.suggestions.first?.text.contains("Keras has one rate per optimizer") == true)
        #expect(!s.suggestions.contains { $0.id == "unfreeze_next_block" })
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
