import FinetopCore
@testable import FinetopDiagnosis
import Testing

/// The noise a turn is judged against leaves out the one-off jump a control event causes (the
/// Keras example: the frozen head plateaus, the user unfreezes the base, both losses drop at once,
/// and the overfitting after it was seen late or never because the drop counted as noise).
@Suite struct ControlEventNoiseTests {
    /// 40 epochs: a slow head-only fall, a toggle at epoch 15 (the model revision of the
    /// `layer_stats` lines goes 0 → 1) where val_loss drops 0.86 → 0.50, its best at epoch 18,
    /// then a rise of 2.5% an epoch with noise ±0.004.
    static func unfreezeThenOverfit(recordRevisions: Bool) -> Run {
        var noise = TestRuns.Noise(state: 11)
        var val: [Double] = []
        var train: [Double] = []
        for e in 0..<40 {
            let x = Double(e)
            let level: Double
            if e < 15 {
                level = 1.0 - 0.01 * x
            } else if e <= 18 {
                level = 0.5 - 0.013 * (x - 15)
            } else {
                level = 0.461 * pow(1.025, x - 18)
            }
            val.append(level + 0.004 * noise.next())
            train.append(e < 15 ? 0.95 - 0.01 * x : 0.45 * pow(0.95, x - 15))
        }
        var run = TestRuns.run(loss: train, val: val)
        for e in 0..<40 {
            run.layerStats.append(epoch: e, modelRevision: recordRevisions ? (e < 15 ? 0 : 1) : -1, ratios: [("head", 0.01)])
        }
        return run
    }

    static func firstOverfitting(_ run: Run) -> Int? {
        Diagnoser.diagnose(run).history.first { $0.label == .overfitting }?.epoch
    }

    @Test func theJumpAtAToggleIsNotNoise() throws {
        let run = Self.unfreezeThenOverfit(recordRevisions: true)
        #expect(Curves(run).controlEvents == [15])
        let seen = try #require(Self.firstOverfitting(run))
        // 10% above the best level (0.46) takes ~4 epochs at 2.5%; Mann-Kendall and the confirming epoch a few more.
        #expect(seen <= 18 + 8, "overfitting first shown at epoch \(seen)")
        let blind = Self.unfreezeThenOverfit(recordRevisions: false)
        #expect(Curves(blind).controlEvents.isEmpty)
        #expect((Self.firstOverfitting(blind) ?? 99) > seen, "the jump counted as noise delays the call")
    }

    @Test func aLearningRateStepIsAControlEventButASchedulesDriftIsNot() {
        var stepped = TestRuns.run(loss: Array(repeating: 1.0, count: 6))
        let rates = [1e-3, 1e-3, 1e-3, 1e-4, 1e-4, 1e-4]
        stepped.epochs = stepped.epochs.enumerated().map { i, e in var e = e; e.values["learning_rate"] = rates[i]; return e }
        #expect(Curves.controlEvents(stepped) == [3])
        var cosine = stepped
        cosine.epochs = cosine.epochs.enumerated().map { i, e in var e = e; e.values["learning_rate"] = 1e-3 * cos(Double(i) / 10); return e }
        #expect(Curves.controlEvents(cosine).isEmpty)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
