import FinetopCore
@testable import FinetopDemo
import Foundation
import Testing

@Suite struct TrainerTests {
    private func trainer(_ scenario: Scenario = .underfit, in dir: String, seed: UInt64 = 1) throws -> DemoTrainer {
        try DemoTrainer(directory: dir, digits: digits(), scenario: scenario, seed: seed)
    }

    @Test func writesTheRunFormatWithRealParameterCounts() throws {
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        let t = try trainer(in: dir)
        t.start()
        t.step()
        let run = try readRun(dir)
        #expect(run.skippedLines == 0)
        #expect(run.info?.framework == "demo")
        #expect(run.info?.hparams.optimizer == "adam")
        #expect(run.info?.hparams.dropout == [0.5])
        let model = try #require(run.model)
        #expect(model.layers.map(\.name) == ["input_layer", "dense_1", "dense_2", "dense_3", "dropout", "head_dense"])
        #expect(model.layers.map(\.params) == [0, 64 * 64 + 64, 64 * 32 + 32, 32 * 16 + 16, 0, 16 * 5 + 5])
        #expect(model.totals.trainable == 85)
        #expect(run.epochs.count == 1)
        #expect(run.epochs[0].valLoss != nil && run.epochs[0].values["val_accuracy"] != nil)
        #expect(run.batches.count >= 2)
    }

    @Test func obeysControlFileLikeTheHelpers() throws {
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        let t = try trainer(in: dir)
        let frozen = t.model.network.denseLayers[0].weights.bitPatterns
        try writeControl(#"{"version": 1, "revision": 1, "trainable": {"dense_3": true}, "stop": false}"#, in: dir)
        t.start()
        #expect(t.step() == nil)
        var run = try readRun(dir)
        #expect(run.model?.revision == 1)
        #expect(run.model?.layers.first { $0.name == "dense_3" }?.trainable == true)
        #expect(run.model?.totals.trainable == 528 + 85)
        #expect(run.acks == [ControlAck(revision: 1, status: .applied, changed: ["dense_3"],
                                        message: "613 of 6,853 params trainable from epoch 0")])

        try writeControl(#"{"version": 1, "revision": 2, "trainable": {"dense_2": true, "conv_9": true}, "stop": false}"#, in: dir)
        #expect(t.step() == nil)
        run = try readRun(dir)
        #expect(run.acks.count == 2)
        #expect(run.acks[1].revision == 2 && run.acks[1].status == .rejected)
        #expect(run.acks[1].message?.contains("conv_9") == true)
        #expect(run.model?.revision == 1)
        #expect(t.model.isTrainable("dense_2") == false)

        try writeControl(#"{"version": 1, "revision": 1, "trainable": {"dense_1": true}, "stop": true}"#, in: dir)
        #expect(t.step() == nil)
        #expect(try readRun(dir).acks.count == 2)  // stale: ignored silently

        try writeControl("{\"version\": 1, \"revision\": 3, \"trainable\": [", in: dir)
        #expect(t.step() == nil)
        #expect(t.step() == nil)
        run = try readRun(dir)
        #expect(run.acks.count == 3)  // reported once, training goes on
        #expect(run.acks[2].status == .rejected && run.acks[2].revision == -1)
        #expect(run.epochs.count == 5)
        #expect(t.model.network.denseLayers[0].weights.bitPatterns == frozen)

        try writeControl(#"{"version": 1, "revision": 4, "trainable": {"dense_3": true}, "stop": false}"#, in: dir)
        #expect(t.step() == nil)
        run = try readRun(dir)
        #expect(run.acks.last == ControlAck(revision: 4, status: .applied, message: "the layers already had these flags"))
        #expect(run.model?.revision == 1)  // nothing changed: no new model line

        try writeControl(#"{"version": 1, "revision": 5, "trainable": {"dense_1": true}, "stop": true}"#, in: dir)
        let end = t.step()
        #expect(end?.reason == "stopped")
        #expect(t.step() == end)
        run = try readRun(dir)
        #expect(run.end?.reason == "stopped")
        #expect(run.epochs.count == 7)
        #expect(run.acks.last?.revision == 5 && run.acks.last?.status == .applied)
        #expect(t.model.isTrainable("dense_1") == false)  // a stop wins over toggles, as in the helpers
        let text = try String(contentsOfFile: dir + "/" + RunFiles.events, encoding: .utf8)
        #expect(text.components(separatedBy: "\"type\": \"end\"").count == 2)
    }

    @Test func tooLittleDataIsAClearErrorBeforeAnythingIsWritten() throws {
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        #expect(throws: DemoError.self) {
            try DemoTrainer(directory: dir, digits: digits().rows(0..<150), scenario: .underfit, seed: 1)
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/" + RunFiles.events))
    }

    @Test func completesWithAnEndLine() throws {
        let run = try runScenario(.underfit, epochs: 3)
        #expect(run.end?.reason == "completed")
        #expect(run.epochs.map(\.epoch) == [0, 1, 2])
    }

    @Test func earlyStoppingEndsTheRunWhenValidationLossStopsImproving() throws {
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        var plan = Scenario.overfit.plan
        plan.earlyStopping = EarlyStoppingInfo(monitor: "val_loss", patience: 3)
        let t = try DemoTrainer(directory: dir, digits: digits(), plan: plan, seed: 1, scenarioName: "overfit")
        let end = t.run(epochsPerSecond: 0)
        let run = try readRun(dir)
        #expect(end.reason == "early_stopping")
        #expect(run.end == end)
        #expect(run.info?.hparams.earlyStopping?.patience == 3)
        #expect(run.epochs.count < 40)
    }

    @Test func sameSeedGivesTheSameCurves() throws {
        func curves(_ seed: UInt64) throws -> [[String: Double]] {
            try runScenario(.overfit, epochs: 4, seed: seed).epochs.map(\.values)
        }
        let first = try curves(5)
        #expect(first.count == 4)
        #expect(try curves(5) == first)
        #expect(try curves(6) != first)
    }

    @Test func unfreezingTheBaseLetsTheLossDrop() throws {
        let dir = temporaryDirectory()
        defer { removeDirectory(dir) }
        let t = try trainer(in: dir)
        t.start()
        for _ in 0..<25 { t.step() }
        try writeControl(#"{"version": 1, "revision": 1, "trainable": {"dense_1": true, "dense_2": true, "dense_3": true}, "stop": false}"#, in: dir)
        for _ in 0..<25 { t.step() }
        let loss = try readRun(dir).epochValues("loss")
        let frozen = mean(loss[15..<25])
        let unfrozen = mean(loss[40..<50])
        print("underfit then unfrozen: loss \(frozen) → \(unfrozen)")
        #expect(unfrozen < 0.6 * frozen)
    }
}

func mean(_ values: ArraySlice<Double>) -> Double { values.reduce(0, +) / Double(values.count) }

@Suite struct ScenarioTests {
    @Test func underfitKeepsTrainingAccuracyLow() throws {
        let run = try runScenario(.underfit, epochs: 40)
        let accuracy = mean(run.epochValues("accuracy")[30...])
        let loss = mean(run.epochValues("loss")[30...])
        print("underfit: train accuracy \(accuracy), loss \(loss)")
        #expect(accuracy < 0.65)
        #expect(loss > 1.0)
    }

    @Test func overfitValidationLossRisesFromItsMinimumWhileTrainingLossFalls() throws {
        let run = try runScenario(.overfit, epochs: 50)
        let val = run.epochValues("val_loss")
        let train = run.epochValues("loss")
        let best = try #require(val.indices.min { val[$0] < val[$1] })
        print("overfit: val_loss best \(val[best]) at \(best), last \(val[val.count - 1]); train \(train[best]) → \(train[train.count - 1])")
        #expect(best < 30)
        #expect(val[val.count - 1] > 1.1 * val[best])
        #expect(train[train.count - 1] < train[best])
        #expect(run.epochValues("accuracy").last == 1)
    }

    @Test func fitLearnsWithoutTurning() throws {
        let run = try runScenario(.fit, epochs: 60)
        let val = run.epochValues("val_loss")
        let best = try #require(val.min())
        let recent = val.suffix(3).sorted()[1]
        print("fit: best val_loss \(best), recent \(recent), val_accuracy \(run.epochValues("val_accuracy").last ?? 0)")
        #expect(recent < 1.05 * best)
        #expect((run.epochValues("val_accuracy").last ?? 0) > 0.93)
        #expect(run.end?.reason == "completed")
    }

    @Test func divergeExplodes() throws {
        let run = try runScenario(.diverge, epochs: 12)
        let loss = run.epochValues("loss")
        print("diverge: loss \(loss)")
        #expect(loss.contains { $0.isNaN || $0.isInfinite } || (loss.max() ?? 0) > 3 * loss[0])
    }
}
