import FinetopCore
import FinetopDiagnosis

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The layer table: name, class, trainable flag (pending marks), params, and, once the job writes
/// `layer_stats`, each layer's latest update ratio (colored by `LearningBand`) with its trend over
/// the last epochs; rows as `LayerRows` gives them (folded blocks, sorted by ratio), with the cursor.
enum LayerTableView {
    static let paramsWidth = 10
    /// Cursor, the gap after the name, the flag and its gap, the params and the right margin:
    /// everything but the name and the class column (which adds its width and a gap).
    static let fixedWidth = 1 + 1 + 2 + 1 + paramsWidth + 1
    /// The update ratio column with its gap: `1.2e-3` and the frozen-but-moved mark.
    static let ratioWidth = 1 + 6 + 1
    /// The trend column with its gap: one glyph per recent epoch.
    static let trendEpochs = 6
    static let trendWidth = 1 + trendEpochs
    /// The name keeps at least this many columns before the ratio column shows, and this many
    /// more before the trend shows.
    static let nameMinWithRatio = 12
    static let nameMinWithTrend = 16

    /// The columns the table needs for every name and class whole (the layout's `tableWants`),
    /// with the ratio and trend columns when the run has update ratios.
    static func wantedWidth(_ widths: LayerWidths, stats: Bool = false) -> Int {
        fixedWidth + max(widths.name, 12) + 1 + widths.className + (stats ? ratioWidth + trendWidth : 0)
    }

    /// A nested layer is named `outer/inner`; its indent already says `outer`.
    static func shownName(_ layer: Layer) -> String {
        layer.depth > 0 ? layer.name.split(separator: "/").last.map(String.init) ?? layer.name : layer.name
    }

    /// Which columns a table `width` wide shows and how wide: the name first (at least 12), then
    /// the update ratio, its trend, and the class (dropped in that order, last first, as the
    /// table narrows). Both name and class whole when they fit, else the class keeps up to a
    /// third and the name the rest.
    struct Columns: Equatable {
        var name: Int
        var className: Int
        var ratio: Bool
        var trend: Bool
    }

    static func columns(width: Int, _ widths: LayerWidths, stats: Bool) -> Columns {
        var room = width - fixedWidth
        let ratio = stats && room - ratioWidth >= nameMinWithRatio
        if ratio { room -= ratioWidth }
        let trend = ratio && room - trendWidth >= nameMinWithTrend
        if trend { room -= trendWidth }
        // Without stats: a class column from 46 columns on (30 left for name and class).
        guard room >= 30 else { return Columns(name: room, className: 0, ratio: ratio, trend: trend) }
        let widths = LayerWidths(name: max(widths.name, 12), className: max(widths.className, 10))
        if widths.name + 1 + widths.className <= room {
            return Columns(name: room - widths.className - 1, className: widths.className, ratio: ratio, trend: trend)
        }
        let cls = min(widths.className, max(10, room / 3))
        return Columns(name: room - cls - 1, className: cls, ratio: ratio, trend: trend)
    }

    /// Name and class widths without the ratio columns (a run without update ratios).
    static func columns(width: Int, _ widths: LayerWidths) -> (name: Int, className: Int) {
        let c: Columns = columns(width: width, widths, stats: false)
        return (c.name, c.className)
    }

    static func draw(_ s: AppState, _ rect: Rect, _ buf: inout ScreenBuffer) {
        guard rect.height >= 2, rect.width >= 10 else { return }
        let layers = s.layers
        let cols = columns(width: rect.width, s.layerWidths, stats: !s.run.layerStats.isEmpty)
        let rows = s.layerRows
        drawHeader(s, rect, cols, rows: rows.count, &buf)
        guard !layers.isEmpty else {
            let note = s.run.model == nil ? "no model line yet" : "the model has no layers"
            buf.text(note, x: rect.x + 2, y: rect.y + 2, style: Style(fg: .gray))
            return
        }
        let top = max(0, min(s.scroll, rows.count - 1))
        let visible = Array(top..<min(rows.count, top + rect.height - 1))
        let cursorRow = rows.row(ofLayer: s.cursor)
        let band = cols.ratio ? LearningBand(run: s.run) : LearningBand()
        let g = Glyphs(ascii: s.options.ascii)
        // Names of the rows in view, shortened together so no two read the same.
        let names = NameShortener.shorten(visible.map { r -> (String, Int) in
            switch rows.rows[r] {
            case .layer(let i):
                return (shown(s, shownName(layers[i])), max(1, cols.name - indent(layers[i], cols.name)))
            case .block(let b):
                let block = rows.blocks[b]
                let first = layers[block.rows.lowerBound]
                return (shown(s, blockShownName(block, first)), max(1, blockNameWidth(block, first, cols)))
            }
        }, ascii: s.options.ascii)
        for (k, r) in visible.enumerated() {
            let y = rect.y + 1 + k
            switch rows.rows[r] {
            case .layer(let i):
                drawRow(s, layers[i], name: names[k], selected: r == cursorRow, y: y, rect, cols, band: band, &buf)
            case .block(let b):
                drawBlockRow(s, rows.blocks[b], name: names[k], selected: r == cursorRow, y: y, rect, cols, band: band, g, &buf)
            }
        }
    }

    static func indent(_ layer: Layer, _ nameW: Int) -> Int { min(layer.depth * 2, max(0, nameW - 4)) }

    /// The column titles, and the cursor's position on the right when the table scrolls.
    static func drawHeader(_ s: AppState, _ rect: Rect, _ cols: Columns, rows: Int, _ buf: inout ScreenBuffer) {
        let head = Style(fg: .gray, bold: true)
        // Within the name column (a 100,000-layer model at 60 columns: the count alone).
        let n = s.layers.count
        let title = ["Layers \(n)", "\(n)"].first { TextWidth.of($0) <= cols.name }
            ?? TextWidth.truncate("\(n)", to: cols.name, ascii: s.options.ascii)
        var x = rect.x + 1
        buf.text(TextWidth.pad(title, to: cols.name + 1), x: x, y: rect.y, style: head)
        x += cols.name + 1
        if cols.className > 0 {
            buf.text(TextWidth.pad("Class", to: cols.className + 1), x: x, y: rect.y, style: head)
            x += cols.className + 1
        }
        buf.text("T ", x: x, y: rect.y, style: head)
        buf.text(TextWidth.pad("Params", to: paramsWidth + 2, right: true), x: x + 2, y: rect.y, style: head)
        x += 3 + paramsWidth
        if cols.ratio {
            // Over the values' right edge; the sorted column says so in the mark's place (`O` switches back).
            buf.text(TextWidth.pad("Ratio", to: 6, right: true), x: x + 1, y: rect.y, style: head)
            if s.sortByRatio {
                buf.text(s.options.ascii ? "v" : "↓", x: x + 7, y: rect.y, style: head)
            } else if s.run.layerStats.measure == .weightNormChange {
                // A TensorBoard histogram's norm change is a lower bound of the ratio: "Ratio≥".
                buf.text(s.options.ascii ? ">" : "≥", x: x + 7, y: rect.y, style: head)
            }
            x += ratioWidth
        }
        if cols.trend { buf.text(" Trend", x: x, y: rect.y, style: head) }
        if rows > rect.height - 1 {
            let pos = "\(s.cursorRow + 1)/\(rows)"
            if TextWidth.of(title) + TextWidth.of(pos) + 3 < cols.name {
                buf.text(pos, x: rect.x + 1 + cols.name - TextWidth.of(pos), y: rect.y, style: Style(fg: .gray))
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
                        _ cols: Columns, band: LearningBand, _ buf: inout ScreenBuffer) {
        let g = Glyphs(ascii: s.options.ascii)
        let base = layer.hasWeights ? Style.plain : Style(fg: .gray)
        var x = rect.x
        buf.text(selected ? String(g.cursor) : " ", x: x, y: y, style: Style(fg: .yellow, bold: true))
        x += 1
        let pad = String(repeating: " ", count: indent(layer, cols.name))
        buf.text(TextWidth.pad(pad + name, to: cols.name, ascii: s.options.ascii), x: x, y: y, style: base)
        x += cols.name + 1
        if cols.className > 0 {
            // Class names are CamelCase words: their start says the most (`BatchNorm…`).
            buf.text(TextWidth.pad(shown(s, layer.className), to: cols.className, ascii: s.options.ascii), x: x, y: y,
                     style: Style(fg: .gray))
            x += cols.className + 1
        }
        x = drawFlagAndParams(flag(s, layer), params: layer.params, x: x, y: y, style: base, &buf)
        let stats = s.run.layerStats
        drawRatio(s, latest: stats.latest(layer.name)?.ratio, moved: stats.frozenButMoved(layer.name),
                  recent: cols.trend ? stats.recentRatios(layer.name, epochs: trendEpochs) : [], x: x, y: y, cols, band: band, &buf)
        if selected { buf.restyle(Rect(x: rect.x + 1, y: y, width: rect.width - 1, height: 1)) { $0.reverse = true } }
    }

    // MARK: - Folded blocks

    /// A folded block's name as shown: its key, without the outer model's name when nested.
    static func blockShownName(_ block: LayerBlock, _ first: Layer) -> String {
        first.depth > 0 ? block.name.split(separator: "/").last.map(String.init) ?? block.name : block.name
    }

    /// How many layers a folded block holds, after its name when there is no class column and
    /// the name keeps 10 columns besides.
    static func countSuffix(_ block: LayerBlock, _ first: Layer, _ cols: Columns) -> String {
        let suffix = " (\(block.rows.count))"
        guard cols.className == 0, cols.name - indent(first, cols.name) - 2 - suffix.count >= 10 else { return "" }
        return suffix
    }

    /// The columns left for a folded block's name: after its indent, `▸ ` and the count.
    static func blockNameWidth(_ block: LayerBlock, _ first: Layer, _ cols: Columns) -> Int {
        cols.name - indent(first, cols.name) - 2 - countSuffix(block, first, cols).count
    }

    /// A folded block's flag: `Y` when every layer with weights trains (as shown, pending
    /// included), `N` when none does, `P` when some do; `*` when one of them is pending, `!`
    /// when a toggle of one could not be written; `-` when none has weights.
    static func blockFlag(_ s: AppState, _ block: LayerBlock) -> (String, Style) {
        let members = s.layers[block.rows].filter(\.hasWeights)
        guard !members.isEmpty else { return ("- ", Style(fg: .gray)) }
        let on = members.filter { s.shownFlag($0) }.count
        let letter = on == members.count ? "Y" : on == 0 ? "N" : "P"
        if members.contains(where: { s.pendingFlag($0) != nil }) {
            return (letter + "*", Style(fg: .yellow, bold: true, underline: true))
        }
        if members.contains(where: { s.failedToggle($0) != nil }) {
            return (letter + "!", Style(fg: .red, bold: true, underline: true))
        }
        return on > 0 ? (letter + " ", Style(fg: .green, bold: true)) : (letter + " ", .plain)
    }

    /// One row for a folded block: `▸ name`, its layer count and how many train, its flag and
    /// params, the largest ratio of its layers and their trend.
    static func drawBlockRow(_ s: AppState, _ block: LayerBlock, name: String, selected: Bool, y: Int, _ rect: Rect,
                             _ cols: Columns, band: LearningBand, _ g: Glyphs, _ buf: inout ScreenBuffer) {
        let layers = s.layers
        let first = layers[block.rows.lowerBound]
        let style = Style(bold: true)
        var x = rect.x
        buf.text(selected ? String(g.cursor) : " ", x: x, y: y, style: Style(fg: .yellow, bold: true))
        x += 1
        let pad = String(repeating: " ", count: indent(first, cols.name))
        let text = pad + g.folded + " " + name + countSuffix(block, first, cols)
        buf.text(TextWidth.pad(text, to: cols.name, ascii: s.options.ascii), x: x, y: y, style: style)
        x += cols.name + 1
        if cols.className > 0 {
            let members = layers[block.rows].filter(\.hasWeights)
            let on = members.filter { s.shownFlag($0) }.count
            // The longest form that fits: "6 layers, 2 train", "2/4 train" (of those with weights), "6 layers".
            var forms = ["\(block.rows.count) layers"]
            if on > 0 && on < members.count { forms = ["\(block.rows.count) layers, \(on) train", "\(on)/\(members.count) train"] + forms }
            let summary = forms.first { TextWidth.of($0) <= cols.className } ?? forms[forms.count - 1]
            buf.text(TextWidth.pad(summary, to: cols.className, ascii: s.options.ascii), x: x, y: y, style: Style(fg: .gray))
            x += cols.className + 1
        }
        x = drawFlagAndParams(blockFlag(s, block), params: block.params, x: x, y: y, style: style, &buf)
        let stats = s.run.layerStats
        var recent: [Double?] = []
        if cols.trend {
            // Each epoch: the largest ratio of the block's layers (NaN wins: something blew up).
            recent = Array(repeating: nil, count: min(trendEpochs, stats.epochs.count))
            for i in block.rows {
                for (k, r) in stats.recentRatios(layers[i].name, epochs: trendEpochs).enumerated() {
                    guard let r else { continue }
                    if let old = recent[k], old.isNaN || old >= r { continue }
                    recent[k] = r
                }
            }
        }
        let moved = block.rows.contains { stats.frozenButMoved(layers[$0].name) }
        drawRatio(s, latest: LayerRows.blockRatio(block, layers, stats), moved: moved, recent: recent, x: x, y: y, cols,
                  band: band, &buf)
        if selected { buf.restyle(Rect(x: rect.x + 1, y: y, width: rect.width - 1, height: 1)) { $0.reverse = true } }
    }

    /// The flag column and the params column of a row (a layer's or a folded block's), from `x`;
    /// returns where the ratio column starts.
    static func drawFlagAndParams(_ flag: (String, Style), params: Int, x: Int, y: Int, style: Style,
                                  _ buf: inout ScreenBuffer) -> Int {
        buf.text(flag.0, x: x, y: y, style: flag.1)
        buf.text(TextWidth.pad(KerasFormat.count(params), to: paramsWidth, right: true), x: x + 3, y: y, style: style)
        return x + 3 + paramsWidth
    }

    // MARK: - Update ratio and trend

    /// The ratio column (`1.2e-3`, colored by band, `◆` when frozen yet moved) and the trend, from `x`.
    static func drawRatio(_ s: AppState, latest: Double?, moved: Bool, recent: [Double?], x: Int, y: Int, _ cols: Columns,
                          band: LearningBand, _ buf: inout ScreenBuffer) {
        guard cols.ratio else { return }
        var x = x + 1
        // A lower bound (TensorBoard histograms) is not banded: a small one does not prove "barely moving".
        let lowerBound = s.run.layerStats.measure == .weightNormChange
        func style(_ r: Double) -> Style {
            lowerBound && r > 0 && !r.isNaN ? .plain : ratioStyle(band.verdict(r))
        }
        if let r = latest {
            buf.text(TextWidth.pad(ratioText(r), to: 6, right: true), x: x, y: y, style: style(r))
        }
        if moved { buf.text(Glyphs(ascii: s.options.ascii).movedWhileFrozen, x: x + 6, y: y, style: Style(fg: .magenta, bold: true)) }
        x += ratioWidth
        guard cols.trend else { return }
        // Right-aligned: the latest epoch in the last column.
        var tx = x + trendEpochs - recent.count
        for r in recent {
            buf.text(trendGlyph(r, ascii: s.options.ascii), x: tx, y: y, style: r.map(style) ?? .plain)
            tx += 1
        }
    }

    /// A ratio in at most 6 columns: `0` exactly, `3.5e-4`, `0.35`, `1.2`, `12`, `1.2e3`, `<1e-9`.
    static func ratioText(_ r: Double) -> String {
        if r.isNaN { return "NaN" }
        if r.isInfinite { return "Inf" }
        if r == 0 { return "0" }
        if r < 1e-9 { return "<1e-9" }
        var e = Int(log10(r).rounded(.down))
        var m = (r / pow(10, Double(e)) * 10).rounded() / 10
        if m >= 10 {
            m /= 10
            e += 1
        }
        switch e {
        case -1: return NumberFormat.cFormat("%.2f", r)
        case 0: return NumberFormat.cFormat("%.1f", r)
        case 1: return NumberFormat.cFormat("%.0f", r)
        default: return NumberFormat.cFormat("%.1f", m) + "e\(e)"
        }
    }

    /// The ratio's color by band, one source for the thresholds (`LearningBand`): exactly 0 dim
    /// gray, barely moving cyan, in band green, far above (or NaN) red and bold.
    static func ratioStyle(_ v: RatioVerdict) -> Style {
        switch v {
        case .still: return Style(fg: .gray, dim: true)
        case .barelyMoving: return Style(fg: .cyan)
        case .inBand: return Style(fg: .green)
        case .farAbove, .unknown: return Style(fg: .red, bold: true)
        }
    }

    /// One epoch of the trend: eight heights over 1e-6 … 1 on a log scale (the same scale on
    /// every row, so rows compare), `·` for exactly 0, blank where the layer was not logged.
    static func trendGlyph(_ r: Double?, ascii: Bool) -> String {
        guard let r else { return " " }
        if r.isNaN { return "!" }
        if r == 0 { return ascii ? "." : "·" }
        let levels = ascii ? Array("_-~=+*%#") : Array("▁▂▃▄▅▆▇█")
        let k = r.isInfinite ? 7 : max(0, min(7, Int(((log10(r) + 6) / 6 * 8).rounded(.down))))
        return String(levels[k])
    }
}
