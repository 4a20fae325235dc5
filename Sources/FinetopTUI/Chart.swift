import FinetopCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A grid of braille cells, each 2×4 dots. Every dot remembers the most important series drawn
/// there so a cell takes that series' color.
struct BrailleCanvas {
    let cols: Int
    let rows: Int
    var bits: [UInt8]
    var layer: [Int8]

    init(cols: Int, rows: Int) {
        self.cols = max(0, cols)
        self.rows = max(0, rows)
        bits = Array(repeating: 0, count: self.cols * self.rows)
        layer = Array(repeating: -1, count: self.cols * self.rows)
    }

    var dotWidth: Int { cols * 2 }
    var dotHeight: Int { rows * 4 }

    private static let dotBits: [[UInt8]] = [[0x01, 0x02, 0x04, 0x40], [0x08, 0x10, 0x20, 0x80]]

    mutating func set(_ px: Int, _ py: Int, layer l: Int8) {
        guard px >= 0, py >= 0, px < dotWidth, py < dotHeight else { return }
        let i = (py / 4) * cols + px / 2
        bits[i] |= Self.dotBits[px & 1][py & 3]
        if l > layer[i] { layer[i] = l }
    }

    /// A straight line in dot space (Bresenham).
    mutating func line(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, layer l: Int8) {
        var x = x0, y = y0
        let dx = abs(x1 - x0), dy = -abs(y1 - y0)
        let sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1
        var err = dx + dy
        var guardSteps = dx - dy + 2
        while guardSteps > 0 {
            set(x, y, layer: l)
            if x == x1 && y == y1 { break }
            let e2 = 2 * err
            if e2 >= dy { err += dy; x += sx }
            if e2 <= dx { err += dx; y += sy }
            guardSteps -= 1
        }
    }

    /// A vertical run of dots in one column (a min/max bucket).
    mutating func column(_ px: Int, from y0: Int, to y1: Int, layer l: Int8) {
        let lo = max(0, min(y0, y1)), hi = min(dotHeight - 1, max(y0, y1))
        guard lo <= hi else { return }
        for y in lo...hi { set(px, y, layer: l) }
    }
}

/// Per-batch values bucketed per dot column: min and max of each column, computed once and then
/// extended as batches arrive (only the columns that can have changed are recomputed).
public final class ChartCache: @unchecked Sendable {
    struct Key: Equatable {
        var metric: String
        var columns: Int
        var xMax: Double
        /// The first point's bits: a replaced file (a restarted job) is a different series.
        var first: UInt64
    }

    private var key: Key?
    private var count = 0
    private var lastRunEpoch = 0.0
    /// Epoch runs over the batch index: (epoch, first index, end index).
    private var runs: [(epoch: Int, start: Int, end: Int)] = []
    private var runsCount = 0
    private(set) var lo: [Double] = []
    private(set) var hi: [Double] = []
    /// Hits and full recomputes, for tests of the cache itself.
    public private(set) var fullRecomputes = 0

    public init() {}

    /// Brings the epoch runs up to date with `epochs` (append-only in practice; restarts rebuild).
    private func updateRuns(_ epochs: [Int32], count: Int) {
        if count < runsCount || (runsCount > 0 && runs.last.map { $0.end } != runsCount) {
            runs = []
            runsCount = 0
        }
        var i = runsCount
        while i < count {
            let e = Int(epochs[i])
            if var last = runs.last, last.epoch == e, last.end == i {
                last.end = i + 1
                runs[runs.count - 1] = last
            } else {
                runs.append((e, i, i + 1))
            }
            i += 1
        }
        runsCount = count
    }

    /// Batches per epoch for run `k`: its own count once finished, else the best estimate so far.
    private func perEpoch(_ k: Int) -> Int {
        let own = runs[k].end - runs[k].start
        if k < runs.count - 1 { return max(1, own) }
        let previous = k > 0 ? runs[k - 1].end - runs[k - 1].start : 0
        return max(1, own, previous)
    }

    /// Min/max per dot column of `values` over x in [0, xMax] epochs.
    func columns(values: [Double], epochs: [Int32], metric: String, columns n: Int, xMax: Double) -> (lo: [Double], hi: [Double]) {
        let newKey = Key(metric: metric, columns: n, xMax: xMax,
                         first: (values.first?.bitPattern ?? 0) ^ UInt64(bitPattern: Int64(epochs.first ?? 0)))
        let count = min(values.count, epochs.count)
        updateRuns(epochs, count: count)
        var fromColumn = 0
        if newKey == key && count >= self.count && lo.count == n && !runs.isEmpty {
            if count == self.count { return (lo, hi) }
            // Only the epoch that was last at the previous call (and later ones) can have moved:
            // its spacing is an estimate until the next epoch begins.
            fromColumn = max(0, column(ofX: lastRunEpoch, n: n, xMax: xMax) - 1)
        } else {
            fullRecomputes += 1
            lo = Array(repeating: .nan, count: n)
            hi = Array(repeating: .nan, count: n)
        }
        key = newKey
        self.count = count
        for c in fromColumn..<n { lo[c] = .nan; hi[c] = .nan }
        guard n > 0, xMax > 0 else { return (lo, hi) }
        values.withUnsafeBufferPointer { v in
            for k in runs.indices {
                let r = runs[k]
                let per = Double(perEpoch(k))
                guard column(ofX: Double(r.epoch) + Double(r.end - r.start) / per, n: n, xMax: xMax) >= fromColumn else { continue }
                var i = r.start
                while i < r.end {
                    let x = Double(r.epoch) + Double(i - r.start + 1) / per
                    let c = column(ofX: x, n: n, xMax: xMax)
                    // All indices that fall into column c.
                    let xEnd = (Double(c) + 1) / Double(n) * xMax
                    var j = r.start + Int(((xEnd - Double(r.epoch)) * per).rounded(.up)) - 1
                    j = max(i + 1, min(j, r.end))
                    if c >= fromColumn && c < n {
                        var mn = lo[c], mx = hi[c]
                        for t in i..<j {
                            let y = v[t]
                            if y.isFinite {
                                if !(y >= mn) { mn = y }
                                if !(y <= mx) { mx = y }
                            }
                        }
                        lo[c] = mn
                        hi[c] = mx
                    }
                    i = j
                }
            }
        }
        if let last = runs.last { lastRunEpoch = Double(last.epoch) }
        return (lo, hi)
    }

    private func column(ofX x: Double, n: Int, xMax: Double) -> Int {
        guard xMax > 0 else { return 0 }
        return max(0, min(n - 1, Int((x / xMax * Double(n)).rounded(.down) - (x >= xMax ? 1 : 0))))
    }

    /// The epoch axis needs to reach the batches too (a run in its first epoch has no epoch lines).
    func batchExtent(_ epochs: [Int32]) -> Double {
        updateRuns(epochs, count: epochs.count)
        guard let k = runs.indices.last else { return 0 }
        let r = runs[k]
        return Double(r.epoch) + Double(r.end - r.start) / Double(perEpoch(k))
    }
}

/// Number labels for axes: short, three significant digits.
enum NumberFormat {
    static func short(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "Inf" : "-Inf" }
        let a = abs(v)
        if a == 0 { return "0" }
        if a >= 1e5 || a < 1e-3 { return cFormat("%.1e", v) }
        if a >= 100 { return cFormat("%.0f", v) }
        if a >= 10 { return cFormat("%.1f", v) }
        if a >= 1 { return cFormat("%.2f", v) }
        return cFormat("%.3f", v)
    }

    /// Whole epochs without decimals.
    static func tick(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : short(v)
    }

    static func value(_ v: Double) -> String {
        if !v.isFinite { return short(v) }
        let a = abs(v)
        if a != 0 && (a >= 1e5 || a < 1e-3) { return cFormat("%.3e", v) }
        return cFormat("%.4f", v)
    }

    static func cFormat(_ f: String, _ v: Double) -> String {
        var buffer = [CChar](repeating: 0, count: 64)
        _ = withVaList([v]) { vsnprintf(&buffer, 64, f, $0) }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// The loss chart widget: train and validation per epoch, per-batch values behind them.
enum LossChart {
    /// True when smaller values of this metric are better (loss, error), false for accuracy-like ones.
    static func lowerIsBetter(_ metric: String) -> Bool {
        let m = metric.lowercased()
        return m.contains("loss") || m.contains("error") || m.contains("mse") || m.contains("mae")
            || m.contains("perplexity") || m.hasSuffix("_err")
    }

    static func draw(_ s: AppState, _ rect: Rect, _ buf: inout ScreenBuffer) {
        guard rect.height >= 4, rect.width >= 16 else { return }
        let g = Glyphs(ascii: s.options.ascii)
        let metric = s.metric
        let train = s.run.epochValues(metric)
        let val = s.run.epochValues("val_" + metric)
        let hasVal = val.contains { !$0.isNaN }
        let xs = s.run.epochs.map { Double($0.epoch + 1) }
        let batchValues = s.run.batches.values(of: metric) ?? []
        let transform: (Double) -> Double = s.logScale ? { $0 > 0 ? log10($0) : .nan } : { $0 }

        // Legend row.
        var x = rect.x + 1
        x += buf.text(metric, x: x, y: rect.y, style: Style.plain.bolded, maxWidth: 20)
        if s.logScale { x += buf.text(" (log)", x: x, y: rect.y, style: .plain) }
        // Legend items are drawn whole or not at all.
        func item(_ text: String, _ style: Style) {
            guard x + 2 + TextWidth.of(text) <= rect.maxX else { return }
            x += 2
            x += buf.text(text, x: x, y: rect.y, style: style)
        }
        item(g.legendLine + " train", Style(fg: .cyan))
        if hasVal { item(g.legendLine + " val", Style(fg: .magenta)) }
        if !batchValues.isEmpty { item(g.batchDot + " batch", Style(fg: .gray, dim: true)) }
        let best = bestEpoch(hasVal ? val : train, lowerIsBetter: lowerIsBetter(metric))
        if let b = best {
            let label = "\(g.bestMark) best \(NumberFormat.short((hasVal ? val : train)[b])) @\(s.run.epochs[b].epoch + 1)"
            item(label, Style(fg: hasVal ? .magenta : .cyan, bold: true))
        }

        // Geometry: y labels on the left, axis row at the bottom.
        let labelW = 7
        let plot = Rect(x: rect.x + labelW + 1, y: rect.y + 1, width: rect.width - labelW - 2, height: rect.height - 3)
        guard plot.width >= 4, plot.height >= 1 else { return }
        var canvas = BrailleCanvas(cols: plot.width, rows: plot.height)

        let epochTotal = Double(s.run.info?.hparams.epochs ?? 0)
        let lastX = xs.last ?? 0
        let batchX = batchValues.isEmpty ? 0 : s.chartCache.batchExtent(s.run.batches.epochs)
        // The axis spans the planned epochs, but early in a long run it spans about twice what is
        // done (a round number) so the curve is not squeezed into the left edge.
        let done = max(lastX, batchX)
        var xMax = max(1, epochTotal, done.rounded(.up))
        if epochTotal > 0 && done * 4 < epochTotal {
            xMax = min(epochTotal, max(done.rounded(.up), niceStep(max(5, done * 2))))
        }

        var cols: (lo: [Double], hi: [Double]) = ([], [])
        if !batchValues.isEmpty {
            cols = s.chartCache.columns(values: batchValues, epochs: s.run.batches.epochs, metric: metric,
                                        columns: canvas.dotWidth, xMax: xMax)
        }

        // Y range over what is drawn, in transformed units; non-finite values are gaps.
        var lo = Double.infinity, hi = -Double.infinity
        func include(_ v: Double) {
            let t = transform(v)
            if t.isFinite { lo = min(lo, t); hi = max(hi, t) }
        }
        for v in train { include(v) }
        for v in val { include(v) }
        for (a, b) in zip(cols.lo, cols.hi) { include(a); include(b) }

        let axisStyle = Style(fg: .gray)
        let baseY = plot.maxY
        // Axis lines.
        for yy in plot.y..<plot.maxY { buf.put(g.vertical, x: plot.x - 1, y: yy, style: axisStyle) }
        buf.put(g.bottomLeft, x: plot.x - 1, y: baseY, style: axisStyle)
        for xx in plot.x..<plot.maxX { buf.put(g.horizontal, x: xx, y: baseY, style: axisStyle) }
        // Epoch ticks under the axis at a round step, labels never overlapping.
        let axisLabelY = baseY + 1
        buf.text(TextWidth.pad("epoch", to: labelW, right: true), x: rect.x, y: axisLabelY, style: axisStyle)
        let step = niceStep(xMax / Double(max(1, plot.width / 8)))
        var nextFree = plot.x - 1
        var tick = 0.0
        while tick <= xMax + 1e-9 {
            let col = plot.x + Int((tick / xMax * Double(plot.width - 1)).rounded())
            let label = NumberFormat.tick(tick)
            let lx = min(plot.maxX - TextWidth.of(label), max(plot.x - 1, col - TextWidth.of(label) / 2))
            if lx >= nextFree {
                buf.text(label, x: lx, y: axisLabelY, style: axisStyle)
                if tick > 0 { buf.put(g.teeUp, x: col, y: baseY, style: axisStyle) }
                nextFree = lx + TextWidth.of(label) + 1
            }
            tick += step
        }

        guard lo.isFinite, hi.isFinite else {
            let note = s.run.epochs.isEmpty && batchValues.isEmpty ? "waiting for the first epoch…" : "no finite \(metric) values yet"
            buf.text(s.options.ascii ? Sanitize.ascii(note) : note, x: plot.x + 2, y: plot.y + plot.height / 2,
                     style: Style(fg: .gray), maxWidth: plot.width - 2)
            return
        }
        // Padding must not invent negative values for a series that has none (a loss of -0.07).
        let nonNegative = lo >= 0
        if hi - lo < 1e-12 * max(1, abs(hi)) {
            let pad = max(abs(hi) * 0.05, 1e-6)
            lo -= pad
            hi += pad
        } else {
            let pad = (hi - lo) * 0.04
            lo -= pad
            hi += pad
        }
        if nonNegative { lo = max(lo, 0) }
        let dotH = canvas.dotHeight, dotW = canvas.dotWidth
        func py(_ t: Double) -> Int { Int(((hi - t) / (hi - lo) * Double(dotH - 1)).rounded()) }
        func px(_ x: Double) -> Int { max(0, min(dotW - 1, Int((x / xMax * Double(dotW - 1)).rounded()))) }

        // Y labels: top, middle, bottom.
        let labelRows = plot.height >= 3 ? [0, plot.height / 2, plot.height - 1] : [0, plot.height - 1]
        for r in labelRows {
            let t = hi - (hi - lo) * (Double(r * 4) + 1.5) / Double(dotH - 1)
            let v = s.logScale ? pow(10, t) : t
            buf.text(TextWidth.pad(NumberFormat.short(v), to: labelW, right: true), x: rect.x, y: plot.y + r, style: axisStyle)
        }

        // Batch values first (background): the min and max of each dot column as two thin
        // outlines, filled only where the band is narrow, so the epoch lines stay readable.
        var prevBand: (lo: Int, hi: Int)?
        for c in 0..<min(dotW, cols.lo.count) {
            let a = transform(cols.lo[c]), b = transform(cols.hi[c])
            guard a.isFinite, b.isFinite else { prevBand = nil; continue }
            let yLo = py(a), yHi = py(b)
            if abs(yLo - yHi) <= 2 { canvas.column(c, from: yLo, to: yHi, layer: 0) }
            if let p = prevBand {
                canvas.line(c - 1, p.lo, c, yLo, layer: 0)
                canvas.line(c - 1, p.hi, c, yHi, layer: 0)
            } else {
                canvas.set(c, yLo, layer: 0)
                canvas.set(c, yHi, layer: 0)
            }
            prevBand = (yLo, yHi)
        }
        func series(_ ys: [Double], layer: Int8) {
            var prev: (Int, Int)?
            for (x, v) in zip(xs, ys) {
                let t = transform(v)
                guard t.isFinite else { prev = nil; continue }
                let p = (px(x), py(t))
                if let q = prev { canvas.line(q.0, q.1, p.0, p.1, layer: layer) } else { canvas.set(p.0, p.1, layer: layer) }
                prev = p
            }
        }
        series(train, layer: 1)
        if hasVal { series(val, layer: 2) }

        let styles: [Style] = [Style(fg: .gray, dim: true), Style(fg: .cyan), Style(fg: .magenta)]
        for r in 0..<canvas.rows {
            for c in 0..<canvas.cols {
                let i = r * canvas.cols + c
                let bits = canvas.bits[i]
                guard bits != 0 else { continue }
                let l = Int(canvas.layer[i])
                let ch: Character
                if s.options.ascii {
                    ch = l == 0 ? "." : (l == 1 ? "*" : "o")
                } else {
                    ch = Character(Unicode.Scalar(0x2800 + UInt32(bits)) ?? " ")
                }
                buf.put(ch, x: plot.x + c, y: plot.y + r, style: styles[max(0, min(2, l))])
            }
        }
        if let b = best {
            let v = transform((hasVal ? val : train)[b])
            if v.isFinite {
                let cx = plot.x + px(xs[b]) / 2, cy = plot.y + py(v) / 4
                buf.put(g.bestMark, x: cx, y: cy, style: Style(fg: hasVal ? .magenta : .cyan, bold: true))
            }
        }
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
