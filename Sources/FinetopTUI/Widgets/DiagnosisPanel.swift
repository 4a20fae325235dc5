import FinetopCore
import FinetopDiagnosis

/// The label, its evidence and the ranked suggestions.
enum DiagnosisPanel {
    static func labelStyle(_ label: FitLabel) -> Style {
        switch label {
        case .tooEarly: return Style(fg: .gray, bold: true)
        case .underfitting: return Style(fg: .yellow, bold: true)
        case .overfitting: return Style(fg: .yellow, bold: true)
        case .fit: return Style(fg: .green, bold: true)
        case .diverging: return Style(fg: .red, bold: true)
        }
    }

    static func title(_ label: FitLabel) -> String {
        switch label {
        case .tooEarly: return "TOO EARLY TO TELL"
        case .underfitting: return "UNDERFITTING"
        case .overfitting: return "OVERFITTING"
        case .fit: return "FIT"
        case .diverging: return "DIVERGING"
        }
    }

    static func draw(_ s: AppState, _ rect: Rect, _ buf: inout ScreenBuffer) {
        guard rect.height >= 1, rect.width >= 10 else { return }
        let g = Glyphs(ascii: s.options.ascii)
        let ascii = s.options.ascii
        let d = s.report.current
        let w = rect.width - 2
        var head = title(d.label)
        switch d.label {
        case .tooEarly:
            let seen = " (\(d.epochs) epoch\(d.epochs == 1 ? "" : "s") seen)"
            if TextWidth.of(head + seen) <= w { head += seen }
        case .underfitting, .overfitting, .fit, .diverging:
            head += " since epoch \(d.sinceEpoch + 1)"
            // The confidence goes whole or not at all.
            let sure = " \(g.dot) \(Int((d.confidence * 100).rounded()))% sure"
            if d.confidence > 0 && TextWidth.of(head + sure) <= w { head += sure }
        }
        // Blocks of wrapped lines, each with the prefix of its first line and the rest's indent.
        let evidence = d.evidence.map { block(shown(s, $0), prefix: "\(g.dot) ", width: w, ascii: ascii) }
        let suggestions = d.suggestions.enumerated().map { i, sug in
            var text = shown(s, sug.text)
            if i == 0 && sug.action != nil { text += "  [a] apply" }
            return block(text, prefix: g.arrow + " ", width: w, ascii: ascii)
        }
        // What to do beats why: the top suggestion keeps its lines on a short panel, then two
        // lines of evidence, then the rest in order. A block that does not fit whole ends in `…`.
        var room = rect.height - 1
        let top = suggestions.first ?? []
        let topLines = min(top.count, max(1, room - min(2, evidence.reduce(0) { $0 + $1.count })))
        var lines: [(String, Style)] = [(TextWidth.truncate(head, to: w, ascii: ascii), labelStyle(d.label))]
        var evidenceRoom = max(0, room - (top.isEmpty ? 0 : topLines))
        for e in evidence where evidenceRoom > 0 {
            let kept = WordWrap.fit(e, count: evidenceRoom, width: w, ascii: ascii)
            lines += kept.map { ($0, .plain) }
            evidenceRoom -= kept.count
        }
        room = rect.height - lines.count
        for (i, sug) in suggestions.enumerated() where room > 0 {
            let kept = WordWrap.fit(sug, count: room, width: w, ascii: ascii)
            lines += kept.map { ($0, i == 0 ? Style(fg: .cyan, bold: true) : Style(fg: .cyan)) }
            room -= kept.count
        }
        for (i, line) in lines.prefix(rect.height).enumerated() {
            buf.text(line.0, x: rect.x + 1, y: rect.y + i, style: line.1, maxWidth: w)
        }
    }

    /// `text` wrapped to `width` with `prefix` before its first line and as much indent before the others.
    static func block(_ text: String, prefix: String, width: Int, ascii: Bool) -> [String] {
        let pad = String(repeating: " ", count: TextWidth.of(prefix))
        return WordWrap.words(text, width: width - TextWidth.of(prefix), ascii: ascii).enumerated().map { k, part in
            (k == 0 ? prefix : pad) + part
        }
    }
}
