/// What takes the key bar's place: the search being typed, a y/n question, or a note.
/// Returns false when there is nothing to say (the key bar shows instead).
enum StatusLine {
    @discardableResult
    static func draw(_ s: AppState, _ row: Rect, _ buf: inout ScreenBuffer) -> Bool {
        let g = Glyphs(ascii: s.options.ascii)
        if s.searching {
            let text = " /\(shown(s, s.searchQuery))_  enter find \(g.dot) esc cancel "
            buf.text(text, x: row.x, y: row.y, style: Style(fg: .yellow, bold: true), maxWidth: row.width)
            return true
        }
        if let p = s.tuning.prompt {
            buf.text(" " + TextWidth.truncate(promptText(s, p), to: row.width - 2, ascii: s.options.ascii) + " ",
                     x: row.x, y: row.y, style: Style(fg: .yellow, bold: true), maxWidth: row.width)
            return true
        }
        if let c = s.confirm {
            switch c {
            case .stopJob:
                buf.text(" Stop the job at its next safe point? y/n ", x: row.x, y: row.y,
                         style: Style(fg: .red, bold: true, reverse: true), maxWidth: row.width)
            }
            return true
        }
        guard let m = s.message, fits(s, row) else { return false }
        buf.text(" " + TextWidth.truncate(shown(s, m.text), to: row.width - 2, ascii: s.options.ascii) + " ",
                 x: row.x, y: row.y, style: style(m.kind), maxWidth: row.width)
        return true
    }

    /// A value being typed: what is typed first (it stays visible on a narrow screen), then what it does.
    static func promptText(_ s: AppState, _ p: TuningPrompt) -> String {
        let g = Glyphs(ascii: s.options.ascii)
        switch p {
        case .learningRate(let typed):
            let now = s.currentRate.map { " (now \(rateText($0)))" } ?? ""
            return "learning rate: \(shown(s, typed))_\(now) \(g.dot) enter set \(g.dot) esc cancel"
        case .planEvery(let typed, _, let blocks):
            return shown(s, planPromptText(s, blocks, typed)) + " \(g.dot) enter start \(g.dot) esc cancel"
        }
    }

    /// Whether the note fits on the line; a longer one shows whole in a `MessageBox` instead.
    static func fits(_ s: AppState, _ row: Rect) -> Bool {
        guard let m = s.message else { return true }
        return TextWidth.of(shown(s, m.text)) <= row.width - 2
    }

    static func style(_ kind: StatusMessage.Kind) -> Style {
        switch kind {
        case .info: return Style(fg: .cyan, bold: true)
        case .warning: return Style(fg: .yellow, bold: true)
        case .error: return Style(fg: .red, bold: true)
        }
    }
}
