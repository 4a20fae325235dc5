/// Every key and what it does, from `KeyBindings.all`, over the dashboard (`?`).
enum HelpOverlay {
    /// What the marks in the layer table mean (not keys: listed under them).
    static let legend: [(String, String)] = [
        ("Y N P - s", "trainable, frozen, partly, no weights; s: norm stats fixed"),
        ("Y* N* Y!", "pending: in control.json, not applied; !: not written"),
    ]

    static func lines(_ s: AppState) -> [(String, String)] {
        var lines = KeyBindings.all.map { ($0.label, $0.help(for: s)) }
        lines += [("", "")] + legend
        if let hint = s.hint { lines += [("", ""), ("", shown(s, hint))] }
        return lines
    }

    static func draw(_ s: AppState, _ area: Rect, _ buf: inout ScreenBuffer) {
        var lines = Self.lines(s)
        // Short screens lose the blank separators first, so the hint at the end still shows.
        if lines.count + 2 > area.height - 2 { lines = lines.filter { !($0.0.isEmpty && $0.1.isEmpty) } }
        // Then the legend (the README has it; the marks show in the table): every key and the hint stay.
        if lines.count + 2 > area.height - 2 { lines = lines.filter { line in !legend.contains { $0.0 == line.0 } } }
        let keyW = lines.map { TextWidth.of($0.0) }.max() ?? 0
        let textW = lines.map { TextWidth.of($0.1) }.max() ?? 0
        let w = min(area.width - 2, keyW + textW + 5)
        let h = min(area.height - 2, lines.count + 2)
        guard w > 10, h > 3 else { return }
        let box = Rect(x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h)
        let g = Glyphs(ascii: s.options.ascii)
        OverlayBox.draw(box, title: " keys ", g, &buf)
        // Too short for all of it: the last row says how much is missing.
        if lines.count > h - 2 {
            let hidden = lines.count - (h - 3)
            lines = Array(lines.prefix(h - 3)) + [("…", "\(hidden) more lines: a taller terminal shows them")]
        }
        for (i, (k, what)) in lines.prefix(h - 2).enumerated() {
            let y = box.y + 1 + i
            buf.text(TextWidth.pad(k, to: keyW), x: box.x + 2, y: y, style: Style.plain.bolded)
            buf.text(TextWidth.truncate(what, to: w - keyW - 5, ascii: s.options.ascii), x: box.x + 3 + keyW, y: y,
                     style: .plain, maxWidth: w - keyW - 5)
        }
    }
}
