import FinetopCore
import FinetopDiagnosis

/// Total, trainable and non-trainable params as Keras's `model.summary()` prints them, and the
/// trainable count after pending changes. Once a Keras job's optimizer is built, a fourth count,
/// "Optimizer params" (its variables: Adam's moments, the step counter, the rate), is shown and
/// counted in Total exactly as Keras 3 does, with a line saying what it is when there is room.
enum TotalsView {
    /// Rows of the totals pane for this state on a screen `screenHeight` high: the three counts and
    /// the pending/status line; the optimizer's count when the job reported it, and its
    /// explanation on screens at least `noteMinHeight` rows high.
    static func rows(_ s: AppState, screenHeight: Int) -> Int {
        guard s.run.model?.optimizerParams != nil else { return Layout.totalsRows }
        return Layout.totalsRows + (screenHeight >= noteMinHeight ? 2 : 1)
    }

    /// Below this height the optimizer row keeps its count and drops the explanation line.
    static let noteMinHeight = 20

    static func draw(_ s: AppState, _ rect: Rect, _ buf: inout ScreenBuffer) {
        guard rect.height >= 1 else { return }
        guard let model = s.run.model else {
            buf.text("Params: waiting for the model line", x: rect.x + 1, y: rect.y, style: Style(fg: .gray), maxWidth: rect.width - 1)
            return
        }
        let t = model.totals
        let wide = rect.width >= 44
        let optimizer = model.optimizerParams
        var rows: [(String, Int, Style)] = [
            // Keras 3: Total = trainable + non-trainable + optimizer params.
            (wide ? "Total params:" : "Total:", t.total + (optimizer ?? 0), Style.plain.bolded),
            (wide ? "Trainable params:" : "Trainable:", t.trainable, Style(fg: .green)),
            (wide ? "Non-trainable params:" : "Non-trainable:", t.nonTrainable, .plain),
        ]
        if let optimizer { rows.append((wide ? "Optimizer params:" : "Optimizer:", optimizer, Style(fg: .cyan))) }
        for (i, row) in rows.enumerated() where i < rect.height {
            line(row.0, row.1, row.2, rect, i, &buf)
        }
        var statusY = rows.count
        if optimizer != nil && rect.height >= rows.count + 2 {
            note(s, rect, rows.count, &buf)
            statusY += 1
        }
        guard rect.height > statusY else { return }
        status(s, t, Rect(x: rect.x, y: rect.y + statusY, width: rect.width, height: 1), &buf)
    }

    /// What the optimizer row means, in the words that fit: the optimizer's own variables, which
    /// Keras counts in Total (so Total differs from trainable + non-trainable).
    private static func note(_ s: AppState, _ rect: Rect, _ i: Int, _ buf: inout ScreenBuffer) {
        let whose = s.run.info?.hparams.optimizer.map { shown(s, $0) + "'s" } ?? "the optimizer's"
        let forms = [
            "(\(whose) slot variables, counted in Total as Keras does)",
            "(\(whose) slot variables, in Total)",
            "(\(whose) slot variables)",
            "(optimizer state)",
        ]
        let text = forms.first { TextWidth.of($0) <= rect.width - 2 } ?? forms[3]
        buf.text(text, x: rect.x + 1, y: rect.y + i, style: Style(fg: .gray), maxWidth: rect.width - 1)
    }

    /// The pending / not written / read-only / nothing pending line.
    private static func status(_ s: AppState, _ t: ParamTotals, _ rect: Rect, _ buf: inout ScreenBuffer) {
        let y = rect.y
        let pending = s.pendingCount
        let failed = s.layers.compactMap { s.failedToggle($0) }
        if let first = failed.first {
            let text = "Not written (\(failed.count)): \(first.reason)"
            buf.text(text, x: rect.x + 1, y: y, style: Style(fg: .red, bold: true), maxWidth: rect.width - 1)
        } else if pending > 0 && s.jobHasEnded {
            // Nothing applies them until a job starts again in this directory.
            let after = KerasFormat.count(s.trainableAfterPending)
            let forms = ["Queued \(pending) for the next job here: trainable \(after)", "Queued \(pending) for the next job"]
            let text = forms.first { TextWidth.of($0) <= rect.width - 2 } ?? forms[1]
            buf.text(text, x: rect.x + 1, y: y, style: Style(fg: .yellow, bold: true), maxWidth: rect.width - 1)
        } else if pending > 0 {
            let after = s.trainableAfterPending
            let d = after - t.trainable
            let sign = d >= 0 ? "+" : "-"
            let arrow = s.options.ascii ? "->" : "→"
            let n = KerasFormat.count(after), dn = "(\(sign)\(KerasFormat.count(abs(d))))"
            let forms = [
                "After \(pending) pending: trainable \(n) \(dn)",
                "Pending \(pending): trainable \(n) \(dn)",
                "Pending \(pending) \(arrow) trainable \(n)",
            ]
            let text = forms.first { TextWidth.of($0) <= rect.width - 2 } ?? forms[2]
            buf.text(text, x: rect.x + 1, y: y, style: Style(fg: .yellow, bold: true), maxWidth: rect.width - 1)
        } else if let reason = s.readOnlyReason {
            buf.text(TextWidth.truncate("read-only: \(reason)", to: rect.width - 2, ascii: s.options.ascii), x: rect.x + 1, y: y,
                     style: Style(fg: .gray), maxWidth: rect.width - 1)
        } else {
            let forms = s.control.revision > 0
                ? ["No pending changes (control revision \(s.control.revision))", "No pending changes (revision \(s.control.revision))"]
                : []
            let text = forms.first { TextWidth.of($0) <= rect.width - 2 } ?? "No pending changes"
            buf.text(text, x: rect.x + 1, y: y, style: Style(fg: .gray), maxWidth: rect.width - 1)
        }
    }

    private static func line(_ label: String, _ n: Int, _ style: Style, _ rect: Rect, _ i: Int, _ buf: inout ScreenBuffer) {
        var value = "\(KerasFormat.count(n)) (\(KerasFormat.memory(params: n)))"
        // Narrow panes keep the count and drop the size.
        if TextWidth.of(label) + 1 + TextWidth.of(value) > rect.width - 2 { value = KerasFormat.count(n) }
        let y = rect.y + i
        buf.text(label, x: rect.x + 1, y: y, style: style)
        let vw = TextWidth.of(value)
        let x = max(rect.x + 1 + TextWidth.of(label) + 1, rect.maxX - vw - 1)
        buf.text(value, x: x, y: y, style: style, maxWidth: rect.maxX - x)
    }
}
