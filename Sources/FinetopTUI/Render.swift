import FinetopCore
import FinetopDiagnosis

/// The whole screen for a state: pure, so snapshot tests see exactly what the terminal gets.
public func render(_ s: AppState) -> ScreenBuffer {
    var buf = ScreenBuffer(width: s.width, height: s.height)
    let layout = Layout(for: s)
    if layout.tooSmall {
        TooSmall.draw(s, &buf)
        return buf
    }
    Frame.draw(s, layout, &buf)
    Header.draw(s, Rect(x: 2, y: 0, width: s.width - 4, height: 1), &buf)
    LayerTableView.draw(s, layout.table, &buf)
    TotalsView.draw(s, layout.totals, &buf)
    LossChart.draw(s, layout.chart, &buf)
    DiagnosisPanel.draw(s, layout.diagnosis, &buf)
    if !StatusLine.draw(s, layout.bottomBar, &buf) { KeyBar.draw(s, layout.bottomBar, &buf) }
    if !StatusLine.fits(s, layout.bottomBar) {
        // Over the chart side when it is wide enough, so the layer table and the totals a toggle
        // just changed stay in sight while the note shows.
        let area = layout.right.width >= MessageBox.minSideWidth
            ? Rect(x: layout.right.x + 1, y: 1, width: layout.right.width - 2, height: s.height - 2)
            : Rect(x: 2, y: 1, width: s.width - 4, height: s.height - 2)
        MessageBox.draw(s, area, &buf)
    }
    if s.showOutput { OutputOverlay.draw(s, buf.area, &buf) }
    if s.showHelp { HelpOverlay.draw(s, buf.area, &buf) }
    if !s.options.color { stripColors(&buf) }
    return buf
}

/// Under NO_COLOR only attributes remain: selection is reverse video, pending is bold+underline.
private func stripColors(_ buf: inout ScreenBuffer) {
    buf.restyle(buf.area) { st in
        st.fg = .none
        st.bg = .none
        st.dim = false
    }
}

/// Text from logs, made safe and (without UTF-8) plain ASCII.
func shown(_ s: AppState, _ text: String) -> String {
    s.options.ascii ? Sanitize.ascii(text) : Sanitize.neutralize(text)
}
