import FinetopCore
import Testing
@testable import FinetopDiagnosis

/// The failure modes of issue 17 reproduced on the rules before it (Baseline/), so each test in
/// Issue17Tests is known to fail without the fix; the same runs, labeled by the current rules,
/// come out as the issue asks.
@Suite struct Issue17ReproductionTests {
    static func labels(_ run: Run) -> (before: [FitLabel], now: [FitLabel]) {
        (Baseline.history(run), Diagnoser.diagnose(run).history.map(\.label))
    }

    @Test func noisyPlateauWasReadAsOverfitting() {
        var noise = TestRuns.Noise(state: 17)
        let n = 80
        let train = (0..<n).map { 0.02 + 1.5 * pow(0.85, Double($0)) }
        var val: [Double] = []
        for i in 0..<n { val.append(i < 10 ? 1.2 * pow(0.7, Double(i)) + 0.06 : 0.06 + 0.03 * noise.next()) }
        let acc = (0..<n).map { i in min(0.995, 0.6 + 0.05 * Double(i)) }
        let valAcc = (0..<n).map { i in min(0.985, 0.6 + 0.05 * Double(i)) }
        let l = Self.labels(TestRuns.run(loss: train, val: val, accuracy: acc, valAccuracy: valAcc))
        #expect(l.before.contains(.overfitting))
        #expect(!l.now.contains(.overfitting))
    }

    @Test func hardTaskStillImprovingWasUnderfitting() {
        let n = 30
        let train = (0..<n).map { 2.0 * pow(0.97, Double($0)) }
        let val = (0..<n).map { 2.1 * pow(0.975, Double($0)) }
        let acc = (0..<n).map { 0.63 * (0.5 + 0.5 * Double($0) / Double(n - 1)) }
        let l = Self.labels(TestRuns.run(loss: train, val: val, accuracy: acc, valAccuracy: acc.map { $0 - 0.02 }))
        #expect(l.before.last == .underfitting)
        #expect(l.now.last == .fit)
    }

    @Test func deadAtChanceWasUnderfitting() {
        let loss = [45.0] + Array(repeating: 2.3026, count: 14)
        let acc = Array(repeating: 0.1, count: 15)
        var run = TestRuns.run(loss: loss, val: loss.map { $0 + 0.001 }, accuracy: acc, valAccuracy: acc)
        run.info?.task = TaskInfo(kind: "classification", numClasses: 10)
        let l = Self.labels(run)
        #expect(l.before.last == .underfitting)
        #expect(l.now.last == .diverging)
    }

    @Test func negativeRunawayWasNotDiverging() {
        let loss = (0..<10).map { -3e4 * pow(2.5, Double($0)) }
        let l = Self.labels(TestRuns.run(loss: loss, val: loss))
        #expect(l.before.last != .diverging)
        #expect(l.now.last == .diverging)
    }

    @Test func overRegularizationWasDiverging() {
        let n = 14
        let loss = (0..<n).map { 3.0 * pow(0.9, Double($0)) }
        let acc = [0.3, 0.6, 0.8, 0.85, 0.8, 0.7, 0.6, 0.5, 0.4, 0.35, 0.3, 0.3, 0.3, 0.3]
        let l = Self.labels(TestRuns.run(loss: loss, val: loss, accuracy: acc, valAccuracy: acc))
        #expect(l.before.last == .diverging)
        #expect(l.now.last == .underfitting)
    }

    @Test func smoothedHealthyRunWasSaturated() {
        let n = 20
        let loss = (0..<n).map { 2.0 + 2.5 * pow(0.85, Double($0)) }
        let acc = (0..<n).map { 0.5 + 0.3 * (1 - pow(0.85, Double($0))) }
        let l = Self.labels(TestRuns.run(loss: loss, val: loss.map { $0 + 0.1 }, accuracy: acc, valAccuracy: acc.map { $0 - 0.02 }))
        #expect(l.before.contains(.diverging))
        #expect(!l.now.contains(.diverging))
    }

    @Test func finishedShortRunStayedTooEarly() {
        var run = TestRuns.run(loss: [0.45, 0.25, 0.12], val: [0.30, 0.33, 0.417])
        run.format = .kerasCSV
        let l = Self.labels(run)
        #expect(l.before.last == .tooEarly)
        #expect(l.now.last == .overfitting)
    }

    @Test func percentAccuracyWasReadAsAboveNinety() {
        let n = 25
        let loss = (0..<n).map { 1.3 + 0.5 * pow(0.5, Double($0)) }
        let acc = (0..<n).map { 56 - 20 * pow(0.5, Double($0)) }
        let l = Self.labels(TestRuns.run(loss: loss, val: loss.map { $0 * 1.01 }, accuracy: acc, valAccuracy: acc))
        #expect(l.before.last != .underfitting)
        #expect(l.now.last == .underfitting)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
