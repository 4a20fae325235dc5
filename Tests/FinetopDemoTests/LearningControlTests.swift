import FinetopCore
@testable import FinetopDemo
import Foundation
import Testing

/// The demo trainer's wave-2 moves (issues 13 and 15), driven through control.json: `layer_stats`
/// every epoch, `learning_rate`, `unfreeze_lr_factor` and a gradual-unfreezing `plan`.
@Suite struct LearningControlTests {
    private func trainer(in dir: String, _ adjust: (inout TrainingPlan) -> Void = { _ in }) throws -> DemoTrainer {
        var plan = Scenario.underfit.plan
        adjust(&plan)
        return try DemoTrainer(directory: dir, digits: digits(), plan: plan, seed: 1, scenarioName: "underfit")
    }

    private func write(_ control: ControlFile, in dir: String) throws {
        try control.write(to: dir)
    }

    @Test func layerStatsEveryEpochFrozenLayersExactlyZeroAndAToggleShowsAtTheNextEpoch() throws {
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        let t = try trainer(in: dir)
        t.start()
        t.step()
        t.step()
        try write(ControlFile(revision: 1, trainable: ["dense_3": true, "head_dense": false]), in: dir)
        t.step()  // applies the toggle at the end of epoch 2 (0-based epoch 2 trains with it)
        t.step()
        let run = try readRun(dir)
        #expect(run.skippedLines == 0)
        let s = run.layerStats
        #expect(s.epochs == [0, 1, 2, 3])
        #expect(s.names == ["dense_1", "dense_2", "dense_3", "head_dense"])
        for e in 0...3 {
            #expect(s.ratio("dense_1", epoch: e) == 0)
            #expect(s.ratio("dense_2", epoch: e) == 0)
        }
        #expect(s.ratio("dense_3", epoch: 2) == 0)
        #expect((s.ratio("dense_3", epoch: 3) ?? 0) > 0)
        #expect((s.ratio("head_dense", epoch: 2) ?? 0) > 1e-3)
        #expect(s.ratio("head_dense", epoch: 3) == 0)
        #expect(s.layersFrozenButMoved.isEmpty)
        // The ratio is the real one: recompute it from the weights around one more epoch.
        let head = t.model.network.denseLayers[2]
        let before = (head.weights, head.bias)
        t.step()
        let r = try readRun(dir).layerStats.ratio("dense_3", epoch: 4) ?? -1
        let exact = DemoTrainer.updateRatio(from: before, to: (head.weights, head.bias))
        #expect(abs(r - exact) <= 1e-6 * exact)
    }

    @Test func aLearningRateFromControlTrainsExactlyLikeThatRate() throws {
        let a = temporaryDirectory(), b = temporaryDirectory()
        defer { removeDirectory(a); removeDirectory(b) }
        try write(ControlFile(revision: 1, learningRate: 1e-4), in: a)
        let steered = try trainer(in: a)
        let planned = try trainer(in: b) { $0.optimizer = .adam(learningRate: 1e-4) }
        steered.start()
        planned.start()
        for _ in 0..<2 {
            steered.step()
            planned.step()
        }
        #expect(steered.model.network.denseLayers.last?.weights.bitPatterns
            == planned.model.network.denseLayers.last?.weights.bitPatterns)
        let run = try readRun(a)
        #expect(run.epochs.map { $0.values["learning_rate"] } == [1e-4, 1e-4])
        #expect(run.acks.first?.status == .applied)
        #expect(run.acks.first?.message?.contains("learning rate 0.0001 from epoch 1") == true)
    }

    @Test func aRateChangeMidRunAppliesFromTheNextEpochAndIsReported() throws {
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        let t = try trainer(in: dir)
        t.start()
        t.step()
        try write(ControlFile(revision: 1, learningRate: 5e-4), in: dir)
        t.step()
        t.step()
        let run = try readRun(dir)
        #expect(run.epochs.map { $0.values["learning_rate"] } == [5e-3, 5e-3, 5e-4])
        #expect(t.learningRate == 5e-4)
    }

    @Test func unfrozenLayersTrainAtTheFactorOfTheHeadsRate() throws {
        func dense3Ratio(factor: Double?) throws -> Double {
            let dir = temporaryDirectory()
            defer { removeDirectory(dir) }
            try write(ControlFile(revision: 1, trainable: ["dense_3": true], unfreezeLRFactor: factor), in: dir)
            let t = try trainer(in: dir)
            t.start()
            t.step()
            #expect(t.model.network.denseLayers[2].rateFactor == factor ?? 1)
            #expect(t.model.network.denseLayers[3].rateFactor == 1)
            return try readRun(dir).layerStats.ratio("dense_3", epoch: 0) ?? -1
        }
        let full = try dense3Ratio(factor: nil)
        let tenth = try dense3Ratio(factor: 0.1)
        #expect(full > 0 && tenth > 0)
        // Adam's step is proportional to the rate: a tenth of the rate moves the layer about a tenth as far.
        #expect(tenth < full * 0.2 && tenth > full * 0.05)
    }

    @Test func aLaterRevisionKeepingTheSameRateLeavesTheUnfrozenLayersFactors() throws {
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        let t = try trainer(in: dir)
        t.start()
        try write(ControlFile(revision: 1, trainable: ["dense_3": true], learningRate: 1e-3, unfreezeLRFactor: 0.1), in: dir)
        t.step()
        #expect(t.model.network.denseLayers.map(\.rateFactor) == [1, 1, 0.1, 1])
        try write(ControlFile(revision: 2, trainable: ["dense_3": true, "dense_2": true], learningRate: 1e-3), in: dir)
        t.step()
        #expect(t.model.network.denseLayers.map(\.rateFactor) == [1, 1, 0.1, 1])
        #expect(t.learningRate == 1e-3)
        // A new rate is the whole optimizer's: every layer's.
        try write(ControlFile(revision: 3, trainable: ["dense_3": true, "dense_2": true], learningRate: 2e-3), in: dir)
        t.step()
        #expect(t.model.network.denseLayers.map(\.rateFactor) == [1, 1, 1, 1])
        #expect(try readRun(dir).epochs.map { $0.values["learning_rate"] } == [5e-3, 1e-3, 1e-3])
    }

    @Test func aGradualUnfreezingPlanRunsThreeStepsUnattended() throws {
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        let t = try trainer(in: dir)
        t.start()
        t.step()
        let plan = ControlPlan(id: "gu", groups: [["dense_3"], ["dense_2"], ["dense_1"]], everyEpochs: 2, lrFactor: 0.1)
        try write(ControlFile(revision: 1, plan: plan), in: dir)
        for _ in 0..<6 { t.step() }
        let run = try readRun(dir)
        let messages = run.acks.compactMap(\.message)
        #expect(run.acks.allSatisfy { $0.revision == 1 && $0.status == .applied })
        #expect(messages.count == 4)
        #expect(messages[0].contains("plan gu: 3 steps, one every 2 epochs"))
        #expect(messages[1].hasPrefix("plan gu: step 1/3: unfroze dense_3 at rate × 0.1 from epoch 3"))
        #expect(messages[2].hasPrefix("plan gu: step 2/3: unfroze dense_2"))
        #expect(messages[3].hasPrefix("plan gu: step 3/3: unfroze dense_1") && messages[3].hasSuffix("plan done"))
        #expect(run.acks.dropFirst().map(\.changed) == [["dense_3"], ["dense_2"], ["dense_1"]])
        #expect(run.model?.revision == 3)
        #expect(run.model?.layers.allSatisfy { $0.trainable } == true)
        // Every two epochs, one more layer moves (steps after epochs 2, 4 and 6; 1-based 3, 5, 7).
        let s = run.layerStats
        #expect(s.ratio("dense_3", epoch: 1) == 0 && (s.ratio("dense_3", epoch: 2) ?? 0) > 0)
        #expect(s.ratio("dense_2", epoch: 3) == 0 && (s.ratio("dense_2", epoch: 4) ?? 0) > 0)
        #expect(s.ratio("dense_1", epoch: 5) == 0 && (s.ratio("dense_1", epoch: 6) ?? 0) > 0)
        #expect(t.model.network.denseLayers.map(\.rateFactor) == [0.1, 0.1, 0.1, 1])
    }

    @Test func aPlanSurvivesARevisionWithTheSameIdAndStopsWhenCancelled() throws {
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        let t = try trainer(in: dir)
        var plan = ControlPlan(id: "gu", groups: [["dense_3"], ["dense_2"], ["dense_1"]], everyEpochs: 1)
        try write(ControlFile(revision: 1, plan: plan), in: dir)
        t.start()  // step 1 at once
        try write(ControlFile(revision: 2, learningRate: 1e-3, plan: plan), in: dir)
        t.step()  // rate applied, plan kept: step 2
        plan.cancel = true
        try write(ControlFile(revision: 3, learningRate: 1e-3, plan: plan), in: dir)
        t.step()
        t.step()
        let run = try readRun(dir)
        let messages = run.acks.compactMap(\.message)
        #expect(messages.contains { $0.hasPrefix("plan gu: step 1/3: unfroze dense_3") })
        #expect(messages.contains { $0.hasPrefix("plan gu: step 2/3: unfroze dense_2") })
        #expect(messages.contains { $0.contains("plan gu cancelled after step 2/3") })
        #expect(!messages.contains { $0.contains("step 3/3") })
        #expect(messages.filter { $0.contains("3 steps") }.count == 1)
        #expect(t.model.isTrainable("dense_1") == false)
        #expect(t.model.isTrainable("dense_2") == true)
        // The same cancelled id written again does not restart it.
        plan.cancel = false
        try write(ControlFile(revision: 4, plan: plan), in: dir)
        t.step()
        #expect(t.model.isTrainable("dense_1") == false)
    }

    @Test func aPlanNamingAnUnknownLayerIsRejectedWhole() throws {
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        let t = try trainer(in: dir)
        t.start()
        let plan = ControlPlan(id: "gu", groups: [["dense_3"], ["conv_9"]])
        try write(ControlFile(revision: 1, trainable: ["dense_2": true], learningRate: 1e-4, plan: plan), in: dir)
        t.step()
        t.step()
        let run = try readRun(dir)
        #expect(run.acks.count == 1 && run.acks[0].status == .rejected)
        #expect(run.acks[0].message?.contains("conv_9") == true)
        #expect(t.model.isTrainable("dense_3") == false && t.model.isTrainable("dense_2") == false)
        #expect(t.learningRate == 5e-3)
    }
}
