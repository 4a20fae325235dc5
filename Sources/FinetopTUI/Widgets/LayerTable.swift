import FinetopCore
import FinetopDiagnosis

/// The layer table: name, class, trainable flag (pending marks) and params, with the cursor.
enum LayerTableView {
    static let paramsWidth = 10
    /// Cursor, the gap after the name, the flag and its gap, the params and the right margin:
    /// everything but the name and the class column (which adds its width and a gap).
    static let fixedWidth = 1 + 1 + 2 + 1 + paramsWidth + 1

    /// The columns the table needs for every name and class whole (the layout's `tableWants`).
    static func wantedWidth(_ widths: LayerWidths) -> Int {
        fixedWidth + max(widths.name, 12) + 1 + widths.className
    }

    /// A nested layer is named `outer/inner`; its indent already says `outer`.
    static func shownName(_ layer: Layer) -> String {
        layer.depth > 0 ? layer.name.split(separator: "/").last.map(String.init) ?? layer.name : layer.name
    }

    /// Name and class widths for a table `width` wide: both whole when they fit, else the class
    /// keeps up to a third and the name the rest.
    static func columns(width: Int, _ widths: LayerWidths) -> (name: Int, className: Int) {
        let room = width - fixedWidth
        guard width >= 46 else { return (room, 0) }
        let widths = LayerWidths(name: max(widths.name, 12), className: max(widths.className, 10))
        if widths.name + 1 + widths.className <= room { return (room - widths.className - 1, widths.className) }
        let cls = min(widths.className, max(10, room / 3))
        return (room - cls - 1, cls)
    }

    static func draw(_ s: AppState, _ rect: Rect, _ buf: inout ScreenBuffer) {
        guard rect.height >= 2, rect.width >= 10 else { return }
        let layers = s.layers
        let (nameW, classW) = columns(width: rect.width, s.layerWidths)
        drawHeader(s, rect, nameW: nameW, classW: classW, &buf)
        guard !layers.isEmpty else {
            let note = s.run.model == nil ? "no model line yet" : "the model has no layers"
            buf.text(note, x: rect.x + 2, y: rect.y + 2, style: Style(fg: .gray))
            return
        }
        let top = max(0, min(s.scroll, layers.count - 1))
        let visible = Array(top..<min(layers.count, top + rect.height - 1))
        let names = NameShortener.shorten(visible.map { i in
            (shown(s, shownName(layers[i])), max(1, nameW - indent(layers[i], nameW)))
        }, ascii: s.options.ascii)
        for (r, i) in visible.enumerated() {
            drawRow(s, layers[i], name: names[r], selected: i == s.cursor, y: rect.y + 1 + r, rect, nameW: nameW, classW: classW, &buf)
        }
    }

    static func indent(_ layer: Layer, _ nameW: Int) -> Int { min(layer.depth * 2, max(0, nameW - 4)) }

    /// The column titles, and the cursor's position on the right when the table scrolls.
    static func drawHeader(_ s: AppState, _ rect: Rect, nameW: Int, classW: Int, _ buf: inout ScreenBuffer) {
        let head = Style(fg: .gray, bold: true)
        let title = "Layers \(s.layers.count)"
        var x = rect.x + 1
        buf.text(TextWidth.pad(title, to: nameW + 1), x: x, y: rect.y, style: head)
        x += nameW + 1
        if classW > 0 {
            buf.text(TextWidth.pad("Class", to: classW + 1), x: x, y: rect.y, style: head)
            x += classW + 1
        }
        buf.text("T ", x: x, y: rect.y, style: head)
        buf.text(TextWidth.pad("Params", to: paramsWidth + 2, right: true), x: x + 2, y: rect.y, style: head)
        if s.layers.count > rect.height - 1 {
            let pos = "\(s.cursor + 1)/\(s.layers.count)"
            if TextWidth.of(title) + TextWidth.of(pos) + 3 < nameW {
                buf.text(pos, x: rect.x + 1 + nameW - TextWidth.of(pos), y: rect.y, style: Style(fg: .gray))
            }
        }
    }

    /// The flag column: `Y`/`N` as reported (`P` partly trainable, a trailing `s` for a norm layer
    /// whose running statistics are held fixed), `Y*`/`N*` pending (yellow, bold, underlined: still
    /// visible without color), `Y!`/`N!` a toggle that could not be written (red, bold, underlined),
    /// `-` for a layer without weights.
    static func flag(_ s: AppState, _ layer: Layer) -> (String, Style) {
        if !layer.hasWeights { return ("- ", Style(fg: .gray)) }
        if let p = s.pendingFlag(layer) { return (p ? "Y*" : "N*", Style(fg: .yellow, bold: true, underline: true)) }
        // The user's toggle never reached control.json: the wanted flag, marked failed.
        if let failed = s.failedToggle(layer) { return (failed.want ? "Y!" : "N!", Style(fg: .red, bold: true, underline: true)) }
        let mark = (layer.partial && layer.trainable ? "P" : layer.trainable ? "Y" : "N") + (layer.statsFrozen ? "s" : " ")
        return layer.trainable ? (mark, Style(fg: .green, bold: true)) : (mark, .plain)
    }

    static func drawRow(_ s: AppState, _ layer: Layer, name: String, selected: Bool, y: Int, _ rect: Rect,
                        nameW: Int, classW: Int, _ buf: inout ScreenBuffer) {
        let g = Glyphs(ascii: s.options.ascii)
        let base = layer.hasWeights ? Style.plain : Style(fg: .gray)
        var x = rect.x
        buf.text(selected ? String(g.cursor) : " ", x: x, y: y, style: Style(fg: .yellow, bold: true))
        x += 1
        let pad = String(repeating: " ", count: indent(layer, nameW))
        buf.text(TextWidth.pad(pad + name, to: nameW, ascii: s.options.ascii), x: x, y: y, style: base)
        x += nameW + 1
        if classW > 0 {
            // Class names are CamelCase words: their start says the most (`BatchNorm…`).
            buf.text(TextWidth.pad(shown(s, layer.className), to: classW, ascii: s.options.ascii), x: x, y: y, style: Style(fg: .gray))
            x += classW + 1
        }
        let (mark, markStyle) = flag(s, layer)
        buf.text(mark, x: x, y: y, style: markStyle)
        x += 3
        buf.text(TextWidth.pad(KerasFormat.count(layer.params), to: paramsWidth, right: true), x: x, y: y, style: base)
        if selected { buf.restyle(Rect(x: rect.x + 1, y: y, width: rect.width - 1, height: 1)) { $0.reverse = true } }
    }
}
