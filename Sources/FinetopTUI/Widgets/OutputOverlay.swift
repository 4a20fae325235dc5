/// The tail of the job's output.log over the dashboard (`o`), so a traceback is readable.
enum OutputOverlay {
    static func draw(_ s: AppState, _ area: Rect, _ buf: inout ScreenBuffer) {
        let w = area.width - 4, h = area.height - 2
        guard w > 10, h > 3 else { return }
        let g = Glyphs(ascii: s.options.ascii)
        let box = Rect(x: area.x + 2, y: area.y + 1, width: w, height: h)
        OverlayBox.draw(box, title: " output.log \(g.dot) any key closes ", g, &buf)
        let textW = w - 4
        var rows: [String] = []
        for line in s.outputLines {
            let wrapped = WordWrap.logLine(shown(s, line), width: textW)
            rows += wrapped.isEmpty ? [""] : wrapped
        }
        if rows.isEmpty { rows = ["(output.log is empty)"] }
        for (i, row) in rows.suffix(h - 2).enumerated() {
            buf.text(row, x: box.x + 2, y: box.y + 1 + i, style: .plain, maxWidth: textW)
        }
    }
}
