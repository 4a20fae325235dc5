import FinetopCore
@testable import FinetopDiagnosis
import Testing

/// The per-layer learning signal read from `layer_stats` (issue 15).
@Suite struct LearningSignalTests {
    static func layer(_ name: String, params: Int = 100, trainable: Bool) -> Layer {
        Layer(name: name, className: "Dense", params: params, trainableParams: trainable ? params : 0, trainable: trainable)
    }

    @Test func theBandFollowsTheStepsPerEpoch() {
        let band = LearningBand(stepsPerEpoch: 100)
        #expect(abs(band.barelyMoving - 1e-4) < 1e-15)
        #expect(abs(band.farAbove - 1) < 1e-12)
        #expect(band.verdict(0) == .still)
        #expect(band.verdict(5e-5) == .barelyMoving)
        #expect(band.verdict(0.01) == .inBand)
        #expect(band.verdict(3) == .farAbove)
        #expect(band.verdict(.nan) == .unknown)
        #expect(LearningBand(stepsPerEpoch: 10_000).barelyMoving > band.barelyMoving)
        #expect(LearningBand().stepsPerEpoch == LearningBand.defaultStepsPerEpoch)
        #expect(LearningBand(stepsPerEpoch: 0).stepsPerEpoch == 1)
    }

    @Test func stepsPerEpochComesFromTheEpochLines() {
        var run = Run(format: .eventsFile)
        run.epochs = [EpochRecord(epoch: 0, step: 50, values: [:]), EpochRecord(epoch: 1, step: 100, values: [:]),
                      EpochRecord(epoch: 2, step: 150, values: [:])]
        #expect(LearningSignal.stepsPerEpoch(run) == 50)
        #expect(LearningBand(run: run).stepsPerEpoch == 50)
        run.epochs = []
        #expect(LearningSignal.stepsPerEpoch(run) == nil)
    }

    @Test func barelyMovingAndFarAboveSeeOnlyWhatTheModelSays() {
        let model = LayerTable(revision: 0, layers: [
            Self.layer("base", trainable: false), Self.layer("slow", trainable: true),
            Self.layer("ok", trainable: true), Self.layer("wild", trainable: true),
        ])
        var stats = LayerStats()
        let frozen = Dictionary(uniqueKeysWithValues: model.layers.map { ($0.name, LayerStats.isFrozen($0)) })
        stats.append(epoch: 0, ratios: [("base", 0), ("slow", 1e-6), ("ok", 1e-2), ("wild", 50)]) { frozen[$0] }
        let band = LearningBand(stepsPerEpoch: 100)
        #expect(LearningSignal.barelyMoving(stats, model, band: band) == ["slow"])
        #expect(LearningSignal.farAboveBand(stats, model, band: band) == ["wild"])
    }

    @Test func theLastUnfrozenLayersLearnOrNot() {
        let before = LayerTable(revision: 0, layers: [
            Self.layer("b1", trainable: false), Self.layer("b2", trainable: false), Self.layer("head", trainable: true),
        ])
        var after = before
        after.layers[0].trainable = true
        after.layers[0].trainableParams = 100
        after.layers[1].trainable = true
        after.layers[1].trainableParams = 100
        after = LayerTable(revision: 1, layers: after.layers)
        var run = Run(format: .eventsFile)
        run.model = after
        run.acks = [ControlAck(revision: 1, status: .applied, changed: ["b1", "b2"])]
        #expect(LearningSignal.lastUnfrozen(run) == ["b1", "b2"])

        let band = LearningBand(stepsPerEpoch: 100)
        var stats = LayerStats()
        let frozenBefore = Dictionary(uniqueKeysWithValues: before.layers.map { ($0.name, LayerStats.isFrozen($0)) })
        stats.append(epoch: 0, ratios: [("b1", 0), ("b2", 0), ("head", 0.01)]) { frozenBefore[$0] }
        // Logged while still frozen: nothing known yet.
        #expect(LearningSignal.outcome(of: ["b1", "b2"], stats, band: band)
            == UnfreezeOutcome(notYetMeasured: ["b1", "b2"]))
        stats.append(epoch: 1, ratios: [("b1", 1e-7), ("b2", 3e-3), ("head", 0.01)]) { _ in false }
        #expect(LearningSignal.outcome(of: ["b1", "b2"], stats, band: band)
            == UnfreezeOutcome(learning: ["b2"], notLearning: ["b1"]))
    }

    @Test func theNextBlockToUnfreezeIsTheFrozenOneJustBelowTheTrainableOnes() {
        let names = ["input_layer", "block_1_expand", "block_1_expand_BN", "block_2_expand", "block_2_expand_BN",
                     "block_2_add", "block_3_expand", "block_3_expand_BN", "head_dense"]
        let trainable: Set = ["block_3_expand", "block_3_expand_BN", "head_dense"]
        let layers = names.map { n in
            Self.layer(n, params: n.hasPrefix("input") || n.hasSuffix("add") ? 0 : 10, trainable: trainable.contains(n))
        }
        let model = LayerTable(revision: 0, layers: layers)
        #expect(LearningSignal.nextBlockToUnfreeze(model)?.name == "block_2")
        let allFrozen = LayerTable(revision: 0, layers: layers.map { var l = $0; l.trainable = false; l.trainableParams = 0; return l })
        #expect(LearningSignal.nextBlockToUnfreeze(allFrozen) == nil)
    }
}
