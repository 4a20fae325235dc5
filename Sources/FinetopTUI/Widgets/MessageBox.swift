/// A note too long for the status line (a job's rejection naming what to do instead), whole and
/// word-wrapped in a box above the key bar until the next key or until it fades.
enum MessageBox {
    static let maxLines = 6
    /// The chart side must be this wide to hold the note; narrower, it spans the screen.
    static let minSideWidth = 60

    static func draw(_ s: AppState, _ area: Rect, _ buf: inout ScreenBuffer) {
        guard let m = s.message, area.width > 12, area.height > 4 else { return }
        let ascii = s.options.ascii
        let textW = area.width - 4
        let lines = WordWrap.fit(WordWrap.words(shown(s, m.text), width: textW, ascii: ascii),
                                 count: min(maxLines, area.height - 3), width: textW, ascii: ascii)
        let box = Rect(x: area.x, y: area.maxY - lines.count - 2, width: area.width, height: lines.count + 2)
        let g = Glyphs(ascii: ascii)
        let title: String
        switch m.kind {
        case .info: title = " note "
        case .warning: title = " warning "
        case .error: title = " error "
        }
        OverlayBox.draw(box, title: title, g, &buf)
        let style = StatusLine.style(m.kind)
        for (i, line) in lines.enumerated() {
            buf.text(line, x: box.x + 2, y: box.y + 1 + i, style: style, maxWidth: textW)
        }
    }
}
