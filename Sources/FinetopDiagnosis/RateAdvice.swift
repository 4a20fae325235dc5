import FinetopCore

/// "Raise / lower the learning rate 10×" as advice the dashboard's `a` carries out
/// (`SuggestedAction.setLearningRate`): the text names the concrete rate, computed from the job's
/// current rate exactly as the dashboard reads it, so what `a` writes is what the text said.
enum RateAdvice {
    /// The job's learning rate now: the latest epoch line's `learning_rate` (or `lr`, PyTorch's
    /// name), else the run line's hyper-parameters; nil when neither is a positive number.
    static func currentRate(_ run: Run) -> Double? {
        if let last = run.epochs.last, let v = last.values["learning_rate"] ?? last.values["lr"], v.isFinite, v > 0 {
            return v
        }
        return run.info?.hparams.learningRate.flatMap { $0.isFinite && $0 > 0 ? $0 : nil }
    }

    /// "raise SGD's learning rate to 0.0001 (10× the current 1e-05)" or "lower Adam's learning rate
    /// to 0.0001 (the current 0.001 ÷ 10)"; without a known rate, "… 10×" (the dashboard then
    /// says it cannot apply it and why).
    static func suggestion(id: String, _ facts: RunFacts, factor: Double) -> Suggestion {
        let verb = factor >= 1 ? "raise" : "lower"
        let whose = Suggestions.kerasOptimizer(facts.hparams.optimizer).map { "\($0)'s " } ?? "the "
        let times = NumberText.rate(factor >= 1 ? factor : (1 / factor).rounded())
        let text: String
        if let now = facts.currentRate {
            let how = factor >= 1 ? "\(times)× the current \(NumberText.rate(now))" : "the current \(NumberText.rate(now)) ÷ \(times)"
            text = "\(verb) \(whose)learning rate to \(NumberText.rate(now * factor)) (\(how))"
        } else {
            text = "\(verb) \(whose)learning rate \(times)× (the run has not reported its rate)"
        }
        return Suggestion(id: id, text: text, action: .setLearningRate(factor: factor))
    }
}
