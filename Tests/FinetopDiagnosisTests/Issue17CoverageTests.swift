import FinetopCore
@testable import FinetopDiagnosis
import Testing

/// Issue 17 items that had no test of their own: a target loss (avoidable bias on a regression),
/// fixes named in Lightning's terms, and a flip offered to an image model only with its warning.
@Suite struct Issue17CoverageTests {
    /// (3) `--target-loss` / `"target": {"loss": …}`: a regression that plateaus at 0.45 is underfitting
    /// against a target of 0.2, and fit against 0.5 (it already beats it).
    @Test func targetLossTurnsAPlateauIntoUnderfitting() {
        let loss = (0..<30).map { 0.45 + 0.8 * pow(0.6, Double($0)) }
        let run = TestRuns.run(loss: loss, val: loss.map { $0 + 0.02 })
        #expect(Diagnoser.diagnose(run).current.label != .underfitting)
        let short = Diagnoser.diagnose(run, target: Target(loss: 0.2)).current
        #expect(short.label == .underfitting)
        #expect(short.evidence.first?.contains("short of your target (avoidable bias)") == true, "\(short.evidence)")
        #expect(Diagnoser.diagnose(run, target: Target(loss: 0.5)).current.label != .underfitting)
        var withHparam = run
        withHparam.info?.hparams.extra = [("target", .object([("loss", .number(0.2))]))]
        #expect(Diagnoser.diagnose(withHparam).current.label == .underfitting)
    }

    /// "Name fixes in the framework's own terms (… Lightning callbacks)".
    @Test func lightningRunsGetLightningCallbacksAndTrainerArguments() throws {
        var over = TestRuns.overfitting()
        over.info = RunInfo(framework: "lightning")
        let text = Diagnoser.diagnose(over).current.suggestions.map(\.text).joined(separator: "\n")
        #expect(text.contains("lightning.pytorch.callbacks.EarlyStopping(monitor=\"val_loss\""), "\(text)")
        #expect(!text.contains("keras.") && !text.contains("restore_best_weights"))
        let loss = [1, 0.8, 0.9, 1.5, 2.5, 4, 8.0]
        var diverging = TestRuns.run(loss: loss, val: loss)
        diverging.info = RunInfo(framework: "lightning")
        let clip = try #require(Diagnoser.diagnose(diverging).current.suggestions.first { $0.id == "clip_gradients" })
        #expect(clip.text.contains("Trainer(gradient_clip_val=1.0)"))
    }

    /// "RandomFlip … (flips also change digits)": an image model is offered a flip only with the warning.
    @Test func aFlipIsOfferedOnlyWithTheDigitsWarning() throws {
        var run = TestRuns.overfitting()
        run.model = LayerTable(revision: 0, layers: TestRuns.smallModel)
        let aug = try #require(Diagnoser.diagnose(run).current.suggestions.first { $0.id == "more_augmentation" })
        #expect(aug.text.contains("RandomFlip(\"horizontal\") (not for digits or text in images: a flip changes them)"))
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
