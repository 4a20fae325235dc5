import FinetopCore
import Foundation
import Testing
@testable import FinetopDiagnosis

/// Label changes need clear evidence: a label shown before comes back, and an overfitting or
/// underfitting call is cleared, only after the rules point elsewhere for a patience (Keras
/// EarlyStopping's 5); a genuine new best val_loss still ends overfitting at once.
@Suite struct HysteresisTests {
    /// Runs of equal labels collapsed: [tooEarly, fit, overfitting].
    static func runs(_ labels: [FitLabel]) -> [FitLabel] {
        var out: [FitLabel] = []
        for l in labels where out.last != l { out.append(l) }
        return out
    }

    /// Val turns at epoch 8 and sits 20% above its best, wobbling, with one three-epoch dip to a new
    /// best by a hair (0.5%, well inside the noise). Before the patience the label went overfitting
    /// → fit → overfitting (the hair-thin best ended overfitting at once); now the dip is neither a
    /// clear new best nor as long as the patience, so overfitting holds.
    @Test func aShortDipDoesNotClearOverfitting() {
        let n = 45
        let train = (0..<n).map { 2.0 * pow(0.9, Double($0)) }
        let val = (0..<n).map { i -> Double in
            if i <= 8 { return 1.0 + 0.1 * Double(8 - i) }
            if i < 12 { return 1.0 + 0.05 * Double(i - 8) }
            if (24...26).contains(i) { return 0.995 }
            return 1.2 + (i % 2 == 0 ? 0.01 : -0.01)
        }
        let report = Diagnoser.diagnose(TestRuns.run(loss: train, val: val))
        let labels = report.history.map(\.label)
        #expect(Self.runs(labels) == [.tooEarly, .fit, .overfitting], "\(labels.map(\.rawValue))")
        #expect(report.current.label == .overfitting)
    }

    /// The same turn, then val_loss falls far below its old best (a learning-rate drop): a clear
    /// new best ends overfitting as soon as the level (median of three) is down, with no patience.
    @Test func aClearNewBestStillEndsOverfittingAtOnce() {
        let n = 40
        let train = (0..<n).map { 2.0 * pow(0.9, Double($0)) }
        let drop = 24
        let val = (0..<n).map { i -> Double in
            if i <= 8 { return 1.0 + 0.1 * Double(8 - i) }
            if i < 12 { return 1.0 + 0.05 * Double(i - 8) }
            if i < drop { return 1.2 + (i % 2 == 0 ? 0.01 : -0.01) }
            return 0.7 * pow(0.99, Double(i - drop))
        }
        let report = Diagnoser.diagnose(TestRuns.run(loss: train, val: val))
        let labels = report.history.map(\.label)
        #expect(labels[drop - 1] == .overfitting, "\(labels.map(\.rawValue))")
        #expect(labels[drop + 1] == .fit, "\(labels.map(\.rawValue))")
        #expect(report.current.label == .fit)
    }

    /// A new best by a hair on a noisy overfitting level is not a clear improvement (Keras's
    /// min_delta set from the curve's noise): the rules do not call it decisive.
    @Test func aNewBestByAHairIsNotDecisive() {
        let train = (0..<30).map { 2.0 * pow(0.9, Double($0)) }
        var val = (0..<30).map { i -> Double in
            if i <= 8 { return 1.0 + 0.1 * Double(8 - i) }
            return 1.2 + (i % 2 == 0 ? 0.05 : -0.05)
        }
        val[29] = 0.999
        var running = RunningSignals(Curves(TestRuns.run(loss: train, val: val)))
        while running.next < 30 { running.add() }
        #expect(!Rules.clearNewBest(running.signals, Thresholds()))
        val[29] = 0.6
        running = RunningSignals(Curves(TestRuns.run(loss: train, val: val)))
        while running.next < 30 { running.add() }
        #expect(Rules.clearNewBest(running.signals, Thresholds()))
    }
}
