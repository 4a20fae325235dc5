import FinetopCore
@testable import FinetopDiagnosis
import Testing

/// Issue 17 (3) and (7): a run whose validation still improves clearly is fit ("train longer"),
/// not underfitting, even when its train loss looks flat; calling it underfitting for a few
/// epochs made labels go fit → underfitting → fit.
@Suite struct StillImprovingTests {
    /// A Hugging Face log whose train loss is logged every 10 evaluations (the same value repeated
    /// in between) while eval_loss falls 8% an evaluation: the train loss looks like a plateau.
    @Test func aRepeatedTrainLossWithValStillFallingIsFitAtEveryEpoch() {
        let train = (0..<33).map { i in [4.0, 3.7, 1.5, 0.7][min(3, i / 10)] }
        let val = (0..<33).map { i in 2.4 * pow(0.93, Double(i)) }
        let report = Diagnoser.diagnose(TestRuns.run(loss: train, val: val))
        #expect(!report.history.contains { $0.label == .underfitting }, "\(report.history.map(\.label.rawValue))")
        #expect(report.current.label == .fit)
    }

    /// A val_loss that keeps making new bests by a hair (0.3% over the last third) on a train-loss
    /// plateau at chance is still underfitting: statistically clean, practically no improvement.
    @Test func aValLossCreepingDownByAHairDoesNotHideUnderfitting() {
        var noise = TestRuns.Noise(state: 7)
        let train = (0..<39).map { _ in 0.68 + 0.02 * noise.next() }
        let val = (0..<39).map { 0.690 - 0.0006 * Double($0) }
        let accuracy = (0..<39).map { _ in 0.56 + 0.05 * noise.next() }
        let run = TestRuns.run(loss: train, val: val, accuracy: accuracy, valAccuracy: Array(repeating: 0.55, count: 39))
        #expect(Diagnoser.diagnose(run).current.label == .underfitting)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
