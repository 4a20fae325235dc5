import FinetopCore

/// Labels a run from its curves. (The classifier lands with the diagnosis work; until then it
/// honestly says it cannot judge yet.)
public enum Diagnoser {
    public static func diagnose(_ run: Run) -> DiagnosisReport {
        let d = Diagnosis(label: .tooEarly, sinceEpoch: 0, confidence: 0, epochs: run.epochs.count,
                          evidence: ["the classifier is not built yet"], suggestions: [])
        return DiagnosisReport(current: d, history: run.epochs.map { ($0.epoch, FitLabel.tooEarly) })
    }
}
