import FinetopCore

/// The header's learning rate, plan progress and Keras's wait for the epoch end.
enum TuningHeader {
    /// `lr 0.001`, `lr 0.001→1e-05 pending`, `plan 2/3`: after the liveness.
    static func parts(_ s: AppState) -> [(String, Style)] {
        var out: [(String, Style)] = []
        if s.ratePending, let want = s.tuning.rate {
            // A narrow screen drops the rate it comes from.
            let from = s.width < 100 ? "" : s.currentRate.map { rateText($0) + (s.options.ascii ? "->" : "→") } ?? ""
            out.append(("lr \(from)\(rateText(want)) pending", Style(fg: .yellow, bold: true)))
        } else if let rate = s.currentRate {
            out.append(("lr \(rateText(rate))", .plain))
        }
        if let p = s.planProgress { out.append(planText(p)) }
        return out
    }

    static func planText(_ p: PlanProgress) -> (String, Style) {
        switch p.state {
        case .sent: return ("plan 0/\(p.steps) sent", Style(fg: .yellow, bold: true))
        case .running: return ("plan \(p.done)/\(p.steps)", Style(fg: .cyan, bold: true))
        case .cancelling: return ("plan \(p.done)/\(p.steps) cancelling", Style(fg: .yellow, bold: true))
        case .finished: return ("plan \(p.done)/\(p.steps) done", Style(fg: .green))
        case .cancelled: return ("plan cancelled at \(p.done)/\(p.steps)", .plain)
        case .failed: return ("plan failed at \(p.done)/\(p.steps)", Style(fg: .red, bold: true))
        }
    }

    /// Keras waits for the epoch's end to apply a trainable change: which one, and the key that does not wait.
    /// Shorter on a narrow screen, where the run name has already given way.
    static func kerasWait(_ s: AppState) -> (String, Style)? {
        guard let n = s.kerasAppliesAtEpoch else { return nil }
        let text = s.width >= 110 ? "applying at end of epoch \(n) (! now)"
            : s.width >= 90 ? "applying at end of epoch \(n)" : "applies at epoch \(n) end"
        return (text, Style(fg: .yellow, bold: true))
    }
}
