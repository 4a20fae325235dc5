/// The bottom edge: the keys that fit, from `KeyBindings.all` (`? help` and `q quit` always).
/// A key that does nothing now is drawn gray; pressing it says why in the status line.
enum KeyBar {
    static func draw(_ s: AppState, _ row: Rect, _ buf: inout ScreenBuffer) {
        let g = Glyphs(ascii: s.options.ascii)
        let limit = row.maxX
        var x = row.x
        let entries = shownEntries(s, width: row.width)
        for (i, b) in entries.enumerated() {
            guard let bar = b.bar else { continue }
            let sep = i == 0 ? " " : " \(g.dot) "
            guard x + TextWidth.of(sep) + TextWidth.of(bar.key + " " + bar.text) + 1 <= limit else { break }
            let disabled = b.disabledReason(s) != nil
            x += buf.text(sep, x: x, y: row.y, style: Style(fg: .gray))
            x += buf.text(bar.key, x: x, y: row.y, style: disabled ? Style(fg: .gray) : Style.plain.bolded)
            x += buf.text(" " + bar.text, x: x, y: row.y, style: disabled ? Style(fg: .gray) : .plain)
        }
        if x < limit { buf.text(" ", x: x, y: row.y) }
    }

    /// The bindings drawn in `width` columns: the optional ones by rank as many as fit,
    /// then help and quit. `o` only for a job this dashboard started.
    static func shownEntries(_ s: AppState, width: Int) -> [Binding] {
        let withBar = KeyBindings.all.filter { b in
            guard b.bar != nil else { return false }
            return s.job != nil || !b.keys.contains { $0.action == .output }
        }.sorted { ($0.bar?.rank ?? 0) < ($1.bar?.rank ?? 0) }
        func isAlways(_ b: Binding) -> Bool { b.keys.contains { $0.action == .help || $0.action == .quit } }
        let always = withBar.filter(isAlways)
        let sepW = TextWidth.of(" \(Glyphs(ascii: s.options.ascii).dot) ")
        func w(_ b: Binding) -> Int { sepW + TextWidth.of((b.bar?.key ?? "") + " " + (b.bar?.text ?? "")) }
        var used = always.reduce(0) { $0 + w($1) }
        var optional: [Binding] = []
        for b in withBar where !isAlways(b) {
            if used + w(b) + 1 > width { break }
            optional.append(b)
            used += w(b)
        }
        return optional + always
    }
}
