import FinetopCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The loss chart widget: train and validation per epoch, per-batch values behind them.
enum LossChart {
    /// True when smaller values of this metric are better (loss, error), false for accuracy-like ones.
    static func lowerIsBetter(_ metric: String) -> Bool {
        let m = metric.lowercased()
        return m.contains("loss") || m.contains("error") || m.contains("mse") || m.contains("mae")
            || m.contains("perplexity") || m.hasSuffix("_err")
    }

    /// Everything one frame of the chart needs, computed once from the state.
    struct Series {
        var metric: String
        var train: [Double]
        var val: [Double]
        var hasVal: Bool
        /// Epoch number (1-based) of each value.
        var xs: [Double]
        var batchValues: [Double]
        var logScale: Bool
        /// The best epoch's index (by validation when there is some), if any value is finite.
        var best: Int?

        init(_ s: AppState) {
            metric = s.metric
            train = s.run.epochValues(metric)
            val = s.run.epochValues("val_" + metric)
            hasVal = val.contains { !$0.isNaN }
            xs = s.run.epochs.map { Double($0.epoch + 1) }
            batchValues = s.run.batches.values(of: metric) ?? []
            logScale = s.logScale
            best = LossChart.bestEpoch(hasVal ? val : train, lowerIsBetter: LossChart.lowerIsBetter(metric))
        }

        /// The scale's transform: log10 on a log scale (non-positive values become gaps).
        func t(_ v: Double) -> Double { logScale ? (v > 0 ? log10(v) : .nan) : v }
        var bestValues: [Double] { hasVal ? val : train }
        var bestStyle: Style { Style(fg: hasVal ? .magenta : .cyan, bold: true) }
    }

    /// Where values land: the plot's cells and its value range, in dot coordinates.
    struct Scale {
        var plot: Rect
        var xMax: Double
        var lo: Double
        var hi: Double
        var dotW: Int { plot.width * 2 }
        var dotH: Int { plot.height * 4 }
        func py(_ t: Double) -> Int { Int(((hi - t) / (hi - lo) * Double(dotH - 1)).rounded()) }
        func px(_ x: Double) -> Int { max(0, min(dotW - 1, Int((x / xMax * Double(dotW - 1)).rounded()))) }
    }

    static let labelWidth = 7
    static let axisStyle = Style(fg: .gray)

    static func draw(_ s: AppState, _ rect: Rect, _ buf: inout ScreenBuffer) {
        guard rect.height >= 4, rect.width >= 16 else { return }
        let g = Glyphs(ascii: s.options.ascii)
        let series = Series(s)
        drawLegend(series, s, rect, g, &buf)
        // y labels on the left, the axis row and its labels at the bottom.
        let plot = Rect(x: rect.x + labelWidth + 1, y: rect.y + 1, width: rect.width - labelWidth - 2, height: rect.height - 3)
        guard plot.width >= 4, plot.height >= 1 else { return }
        let xMax = xAxisEnd(s, series)
        var columns: (lo: [Double], hi: [Double]) = ([], [])
        if !series.batchValues.isEmpty {
            columns = s.chartCache.columns(values: series.batchValues, epochs: s.run.batches.epochs, metric: series.metric,
                                           columns: plot.width * 2, xMax: xMax)
        }
        drawAxes(plot, xMax: xMax, rect, g, &buf)
        guard let (lo, hi) = valueRange(series, columns) else {
            let note = s.run.epochs.isEmpty && series.batchValues.isEmpty ? "waiting for the first epoch…" : "no finite \(series.metric) values yet"
            buf.text(s.options.ascii ? Sanitize.ascii(note) : note, x: plot.x + 2, y: plot.y + plot.height / 2,
                     style: Style(fg: .gray), maxWidth: plot.width - 2)
            return
        }
        let scale = Scale(plot: plot, xMax: xMax, lo: lo, hi: hi)
        drawYLabels(scale, logScale: series.logScale, rect, &buf)
        var canvas = BrailleCanvas(cols: plot.width, rows: plot.height)
        plotBatchBand(columns, series, scale, &canvas)
        plotLine(series.train, series, scale, layer: 1, &canvas)
        if series.hasVal { plotLine(series.val, series, scale, layer: 2, &canvas) }
        paint(canvas, at: plot, ascii: s.options.ascii, &buf)
        markBest(series, scale, g, &buf)
    }

    /// The metric's name, then the series that are drawn and the best value, each whole or not at all.
    static func drawLegend(_ series: Series, _ s: AppState, _ rect: Rect, _ g: Glyphs, _ buf: inout ScreenBuffer) {
        var x = rect.x + 1
        x += buf.text(shown(s, series.metric), x: x, y: rect.y, style: Style.plain.bolded, maxWidth: 20)
        if series.logScale { x += buf.text(" (log)", x: x, y: rect.y, style: .plain) }
        func item(_ text: String, _ style: Style) {
            guard x + 2 + TextWidth.of(text) <= rect.maxX else { return }
            x += 2
            x += buf.text(text, x: x, y: rect.y, style: style)
        }
        item(g.legendLine + " train", Style(fg: .cyan))
        if series.hasVal { item(g.legendLine + " val", Style(fg: .magenta)) }
        if !series.batchValues.isEmpty { item(g.batchDot + " batch", Style(fg: .gray, dim: true)) }
        if let b = series.best {
            item("\(g.bestMark) best \(NumberFormat.short(series.bestValues[b])) @\(s.run.epochs[b].epoch + 1)", series.bestStyle)
        }
    }

    /// The epoch axis spans the planned epochs, but early in a long run about twice what is done
    /// (a round number) so the curve is not squeezed into the left edge.
    static func xAxisEnd(_ s: AppState, _ series: Series) -> Double {
        let planned = Double(s.run.info?.hparams.epochs ?? 0)
        let batchX = series.batchValues.isEmpty ? 0 : s.chartCache.batchExtent(s.run.batches.epochs)
        let done = max(series.xs.last ?? 0, batchX)
        var xMax = max(1, planned, done.rounded(.up))
        if planned > 0 && done * 4 < planned {
            xMax = min(planned, max(done.rounded(.up), niceStep(max(5, done * 2))))
        }
        return xMax
    }

    /// The lowest and highest drawn value in the scale's units, padded; nil when none is finite.
    static func valueRange(_ series: Series, _ columns: (lo: [Double], hi: [Double])) -> (Double, Double)? {
        var lo = Double.infinity, hi = -Double.infinity
        func include(_ v: Double) {
            let t = series.t(v)
            if t.isFinite { lo = min(lo, t); hi = max(hi, t) }
        }
        for v in series.train { include(v) }
        for v in series.val { include(v) }
        for (a, b) in zip(columns.lo, columns.hi) { include(a); include(b) }
        guard lo.isFinite, hi.isFinite else { return nil }
        // Padding must not invent negative values for a series that has none (a loss of -0.07).
        let nonNegative = lo >= 0
        let pad = hi - lo < 1e-12 * max(1, abs(hi)) ? max(abs(hi) * 0.05, 1e-6) : (hi - lo) * 0.04
        lo -= pad
        hi += pad
        if nonNegative { lo = max(lo, 0) }
        return (lo, hi)
    }

    /// The L-shaped axis and the epoch ticks under it at a round step, labels never overlapping.
    static func drawAxes(_ plot: Rect, xMax: Double, _ rect: Rect, _ g: Glyphs, _ buf: inout ScreenBuffer) {
        let baseY = plot.maxY
        for yy in plot.y..<plot.maxY { buf.put(g.vertical, x: plot.x - 1, y: yy, style: axisStyle) }
        buf.put(g.bottomLeft, x: plot.x - 1, y: baseY, style: axisStyle)
        for xx in plot.x..<plot.maxX { buf.put(g.horizontal, x: xx, y: baseY, style: axisStyle) }
        let labelY = baseY + 1
        buf.text(TextWidth.pad("epoch", to: labelWidth, right: true), x: rect.x, y: labelY, style: axisStyle)
        let step = niceStep(xMax / Double(max(1, plot.width / 8)))
        var nextFree = plot.x - 1
        var tick = 0.0
        while tick <= xMax + 1e-9 {
            let col = plot.x + Int((tick / xMax * Double(plot.width - 1)).rounded())
            let label = NumberFormat.tick(tick)
            let lx = min(plot.maxX - TextWidth.of(label), max(plot.x - 1, col - TextWidth.of(label) / 2))
            if lx >= nextFree {
                buf.text(label, x: lx, y: labelY, style: axisStyle)
                if tick > 0 { buf.put(g.teeUp, x: col, y: baseY, style: axisStyle) }
                nextFree = lx + TextWidth.of(label) + 1
            }
            tick += step
        }
    }

    /// Top, middle and bottom values, with the precision their spacing needs (never two alike).
    static func drawYLabels(_ scale: Scale, logScale: Bool, _ rect: Rect, _ buf: inout ScreenBuffer) {
        let plot = scale.plot
        let rows = plot.height >= 3 ? [0, plot.height / 2, plot.height - 1] : [0, plot.height - 1]
        let values = rows.map { r -> Double in
            let t = scale.hi - (scale.hi - scale.lo) * (Double(r * 4) + 1.5) / Double(scale.dotH - 1)
            return logScale ? pow(10, t) : t
        }
        let labels = NumberFormat.axisLabels(values, width: labelWidth)
        for (r, label) in zip(rows, labels) {
            buf.text(TextWidth.pad(label, to: labelWidth, right: true), x: rect.x, y: plot.y + r, style: axisStyle)
        }
    }

    /// Batch values behind the lines: the min and max of each dot column as two thin outlines,
    /// filled only where the band is narrow, so the epoch lines stay readable.
    static func plotBatchBand(_ columns: (lo: [Double], hi: [Double]), _ series: Series, _ scale: Scale, _ canvas: inout BrailleCanvas) {
        var prev: (lo: Int, hi: Int)?
        for c in 0..<min(scale.dotW, columns.lo.count) {
            let a = series.t(columns.lo[c]), b = series.t(columns.hi[c])
            guard a.isFinite, b.isFinite else { prev = nil; continue }
            let yLo = scale.py(a), yHi = scale.py(b)
            if abs(yLo - yHi) <= 2 { canvas.column(c, from: yLo, to: yHi, layer: 0) }
            if let p = prev {
                canvas.line(c - 1, p.lo, c, yLo, layer: 0)
                canvas.line(c - 1, p.hi, c, yHi, layer: 0)
            } else {
                canvas.set(c, yLo, layer: 0)
                canvas.set(c, yHi, layer: 0)
            }
            prev = (yLo, yHi)
        }
    }

    /// One per-epoch series as connected dots; a non-finite value leaves a gap.
    static func plotLine(_ ys: [Double], _ series: Series, _ scale: Scale, layer: Int8, _ canvas: inout BrailleCanvas) {
        var prev: (Int, Int)?
        for (x, v) in zip(series.xs, ys) {
            let t = series.t(v)
            guard t.isFinite else { prev = nil; continue }
            let p = (scale.px(x), scale.py(t))
            if let q = prev { canvas.line(q.0, q.1, p.0, p.1, layer: layer) } else { canvas.set(p.0, p.1, layer: layer) }
            prev = p
        }
    }

    /// The canvas as braille cells (or `.`, `*`, `o` in ASCII), each in its top series' color.
    static func paint(_ canvas: BrailleCanvas, at plot: Rect, ascii: Bool, _ buf: inout ScreenBuffer) {
        let styles: [Style] = [Style(fg: .gray, dim: true), Style(fg: .cyan), Style(fg: .magenta)]
        for r in 0..<canvas.rows {
            for c in 0..<canvas.cols {
                let i = r * canvas.cols + c
                let bits = canvas.bits[i]
                guard bits != 0 else { continue }
                let l = Int(canvas.layer[i])
                let ch: Character
                if ascii {
                    ch = l == 0 ? "." : (l == 1 ? "*" : "o")
                } else {
                    ch = Character(Unicode.Scalar(0x2800 + UInt32(bits)) ?? " ")
                }
                buf.put(ch, x: plot.x + c, y: plot.y + r, style: styles[max(0, min(2, l))])
            }
        }
    }

    /// The best epoch's mark on its line.
    static func markBest(_ series: Series, _ scale: Scale, _ g: Glyphs, _ buf: inout ScreenBuffer) {
        guard let b = series.best else { return }
        let v = series.t(series.bestValues[b])
        guard v.isFinite else { return }
        buf.put(g.bestMark, x: scale.plot.x + scale.px(series.xs[b]) / 2, y: scale.plot.y + scale.py(v) / 4, style: series.bestStyle)
    }

    /// 1, 2 or 5 times a power of ten, at least `raw`.
    static func niceStep(_ raw: Double) -> Double {
        guard raw.isFinite, raw > 0 else { return 1 }
        let p = pow(10, (log10(raw)).rounded(.down))
        for m in [1.0, 2, 5, 10] where m * p >= raw { return max(1, m * p) }
        return max(1, 10 * p)
    }

    static func bestEpoch(_ values: [Double], lowerIsBetter: Bool) -> Int? {
        var best: Int?
        for (i, v) in values.enumerated() where v.isFinite {
            if let b = best {
                if lowerIsBetter ? v < values[b] : v > values[b] { best = i }
            } else {
                best = i
            }
        }
        return best
    }
}
