import FinetopCore
@testable import FinetopDiagnosis
import Testing

/// "Raise / lower the learning rate 10×" is something the dashboard's `a` carries out
/// (`SuggestedAction.setLearningRate`), named with the concrete rate, on the real Keras runs of
/// Corpus/learning (make_learning_runs.py).
@Suite struct RateActionTests {
    /// SGD at 1e-5, every trainable layer barely moving: the top suggestion raises the rate 10×
    /// and carries the action, in the text, the report and `--json`.
    @Test func theRaiseTheRateSuggestionOfTheTinyRateRunIsAnAction() throws {
        let report = Diagnoser.diagnose(try LearningDiagnosisTests.load("tiny_rate"))
        let top = try #require(report.current.suggestions.first)
        #expect(top.id == "raise_learning_rate")
        #expect(top.action == .setLearningRate(factor: 10))
        #expect(top.text.hasPrefix("raise SGD's learning rate to 0.0001 (10× the current 1e-05): the layers that train barely move"),
                "\(top.text)")
        #expect(report.text.contains("[dashboard can apply: learning rate ×10]"), "\(report.text)")
        let json = try JSONParser.parse(report.json)
        let action = json["suggestions"]?.array?.first?["action"]
        #expect(action?["kind"]?.string == "set_learning_rate")
        #expect(action?["factor"]?.double == 10)
    }

    /// SGD at 20, layers far above the band: "lower the rate" names 2 and carries factor 0.1.
    @Test func theLowerTheRateSuggestionOfTheHugeRateRunIsAnAction() throws {
        let report = Diagnoser.diagnose(try LearningDiagnosisTests.load("huge_rate"))
        let top = try #require(report.current.suggestions.first)
        #expect(report.current.label == .diverging)
        #expect(top.id == "lower_learning_rate")
        #expect(top.action == .setLearningRate(factor: 0.1))
        #expect(top.text.hasPrefix("lower SGD's learning rate to 2 (the current 20 ÷ 10)"), "\(top.text)")
        #expect(report.text.contains("[dashboard can apply: learning rate ÷10]"), "\(report.text)")
    }

    /// The rate named is the job's rate now: the latest epoch line's, not the run line's start value
    /// (a rate changed from the dashboard or by a schedule).
    @Test func theNamedRateIsTheLatestEpochLinesRate() throws {
        var run = try LearningDiagnosisTests.load("tiny_rate")
        run.epochs[run.epochs.count - 1].values["learning_rate"] = 3e-5
        let top = try #require(Diagnoser.diagnose(run).current.suggestions.first)
        #expect(top.text.contains("to 0.0003 (10× the current 3e-05)"), "\(top.text)")
        // Without any rate reported the action stays (the dashboard says why it cannot apply it).
        for i in run.epochs.indices { run.epochs[i].values["learning_rate"] = nil }
        run.info?.hparams.learningRate = nil
        let blind = try #require(Diagnoser.diagnose(run).current.suggestions.first)
        #expect(blind.id == "raise_learning_rate")
        #expect(blind.text.hasPrefix("raise SGD's learning rate 10× (the run has not reported its rate)"), "\(blind.text)")
        #expect(blind.action == .setLearningRate(factor: 10))
    }
}
