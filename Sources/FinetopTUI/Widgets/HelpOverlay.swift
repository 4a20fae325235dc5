/// Every key and what it does, from `KeyBindings.all`, over the dashboard (`?`). On a screen too
/// short for all of it, the moving keys of the same table scroll it, and its last row says how
/// much more there is and which keys show it.
enum HelpOverlay {
    /// What the marks in the layer table mean (not keys: listed under them).
    static func legend(ascii: Bool) -> [(String, String)] {
        let g = Glyphs(ascii: ascii)
        return [
            ("Y N P - s", "trainable, frozen, partly, no weights; s: norm stats fixed"),
            ("Y* N* Y!", "pending: in control.json, not applied; !: not written"),
            ("Ratio Trend", "update/weights per epoch, last 6 epochs: 0 (\(ascii ? "." : "·")) gray, barely moving cyan, "
                + "in band green, far above red"),
            (g.movedWhileFrozen + " " + g.folded, "\(g.movedWhileFrozen) frozen but moved anyway (BatchNorm statistics); "
                + "\(g.folded) a folded block: space toggles all its layers"),
        ]
    }

    static func lines(_ s: AppState) -> [(String, String)] {
        // The hint (where to go next) comes first, so it shows even when the help must scroll.
        var lines: [(String, String)] = s.hint.map { [("", shown(s, $0)), ("", "")] } ?? []
        lines += KeyBindings.all.map { ($0.label, $0.help(for: s)) }
        lines += [("", "")] + legend(ascii: s.options.ascii)
        return lines
    }

    /// The help laid out for one screen: rows (texts wrapped at spaces, a continuation row has no
    /// key), the box, the key column's width, and how many rows show at once.
    struct Page {
        var rows: [(key: String, text: String)]
        var box: Rect
        var keyWidth: Int
        /// Rows shown at once: all of them, or one fewer than the box holds (the last says what is hidden).
        var visible: Int
        /// The largest scroll position.
        var lastScroll: Int { max(0, rows.count - visible) }
        var scrolls: Bool { rows.count > visible }
    }

    static func page(_ s: AppState, _ area: Rect) -> Page? {
        let lines = Self.lines(s)
        let keyW = lines.map { TextWidth.of($0.0) }.max() ?? 0
        let textW = lines.map { TextWidth.of($0.1) }.max() ?? 0
        let w = min(area.width - 2, keyW + textW + 5)
        let wrapW = w - keyW - 5
        guard w > 10, wrapW > 8 else { return nil }
        func wrapped(_ lines: [(String, String)]) -> [(key: String, text: String)] {
            var rows: [(key: String, text: String)] = []
            for (key, text) in lines {
                let parts = WordWrap.words(text, width: wrapW, ascii: s.options.ascii)
                if parts.isEmpty { rows.append((key, "")) }
                for (i, part) in parts.enumerated() { rows.append((i == 0 ? key : "", part)) }
            }
            return rows
        }
        let fits = { (rows: [(key: String, text: String)]) in rows.count + 2 <= area.height - 2 }
        var rows = wrapped(lines)
        // Short screens lose the blank separators first.
        if !fits(rows) { rows = rows.filter { !($0.key.isEmpty && $0.text.isEmpty) } }
        let h = min(area.height - 2, rows.count + 2)
        guard h > 3 else { return nil }
        let box = Rect(x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h)
        let visible = rows.count <= h - 2 ? rows.count : h - 3
        return Page(rows: rows, box: box, keyWidth: keyW, visible: visible)
    }

    /// The screen the help is drawn over.
    static func screen(_ s: AppState) -> Rect { Rect(x: 0, y: 0, width: s.width, height: s.height) }

    /// Moves the help for a moving key (the table's own keys: line, page, first, last) and
    /// returns true; false for any other action, or when the help fits (then the key closes it).
    static func scroll(_ s: inout AppState, _ action: Action) -> Bool {
        guard let page = page(s, screen(s)), page.scrolls else { return false }
        let step = max(1, page.visible - 1)
        switch action {
        case .cursorDown: s.helpScroll += 1
        case .cursorUp: s.helpScroll -= 1
        case .pageDown: s.helpScroll += step
        case .pageUp: s.helpScroll -= step
        case .firstLayer: s.helpScroll = 0
        case .lastLayer: s.helpScroll = page.lastScroll
        case .fold, .foldAll, .sortByRatio, .search, .nextMatch, .previousMatch, .toggle, .unfreezeFromHere, .freezeToHere,
             .applySuggestion, .stop, .output, .cycleMetric, .logScale, .help, .repaint, .quit, .interrupt,
             .setRate, .rateUp, .rateDown, .unfreezeKeepRate, .startPlan, .cancelPlan, .applyNow:
            return false
        }
        s.helpScroll = max(0, min(s.helpScroll, page.lastScroll))
        return true
    }

    /// The keys that scroll, as the key table labels them ("j k / arrows, PgUp PgDn d").
    static var scrollKeys: String {
        [Action.cursorDown, .pageDown].compactMap { action in
            KeyBindings.all.first { $0.keys.contains { $0.action == action } }?.label
        }.joined(separator: ", ")
    }

    /// The last row of a help that scrolls: what is hidden above and below, and the keys.
    static func moreLine(above: Int, below: Int, width: Int, ascii: Bool) -> String {
        let up = ascii ? "^" : "↑", down = ascii ? "v" : "↓"
        var counts: [String] = []
        if above > 0 { counts.append("\(up) \(above) above") }
        if below > 0 { counts.append("\(down) \(below) more") }
        let where_ = counts.joined(separator: ", ")
        let candidates = [
            "\(where_) · \(scrollKeys): scroll · other keys close",
            "\(where_) · \(scrollKeys): scroll",
            "\(where_) · j k PgDn: scroll",
            where_,
        ]
        return candidates.first { TextWidth.of($0) <= width } ?? TextWidth.truncate(where_, to: width, ascii: ascii)
    }

    static func draw(_ s: AppState, _ area: Rect, _ buf: inout ScreenBuffer) {
        guard let page = page(s, area) else { return }
        let box = page.box
        let g = Glyphs(ascii: s.options.ascii)
        OverlayBox.draw(box, title: " keys ", g, &buf)
        let top = max(0, min(s.helpScroll, page.lastScroll))
        let textX = box.x + 3 + page.keyWidth
        let textW = box.maxX - 2 - textX
        for (i, row) in page.rows[top..<(top + page.visible)].enumerated() {
            let y = box.y + 1 + i
            buf.text(TextWidth.pad(row.key, to: page.keyWidth), x: box.x + 2, y: y, style: Style.plain.bolded)
            buf.text(row.text, x: textX, y: y, style: .plain, maxWidth: textW)
        }
        if page.scrolls {
            let below = page.rows.count - top - page.visible
            let more = moreLine(above: top, below: below, width: box.width - 4, ascii: s.options.ascii)
            buf.text(more, x: box.x + 2, y: box.y + 1 + page.visible, style: Style(fg: .cyan), maxWidth: box.width - 4)
        }
    }
}
