import FinetopCore
import FinetopDiagnosis

/// Line-drawing characters, with a plain-ASCII set for terminals whose locale is not UTF-8.
struct Glyphs {
    let horizontal: Character, vertical: Character
    let topLeft: Character, topRight: Character, bottomLeft: Character, bottomRight: Character
    let teeDown: Character, teeUp: Character, teeRight: Character, teeLeft: Character
    let dot: String, arrow: String, legendLine: String, batchDot: String
    let bestMark: Character, cursor: Character

    init(ascii: Bool) {
        if ascii {
            (horizontal, vertical) = ("-", "|")
            (topLeft, topRight, bottomLeft, bottomRight) = ("+", "+", "+", "+")
            (teeDown, teeUp, teeRight, teeLeft) = ("+", "+", "+", "+")
            (dot, arrow, legendLine, batchDot) = ("-", "->", "--", ".")
            (bestMark, cursor) = ("@", ">")
        } else {
            (horizontal, vertical) = ("─", "│")
            (topLeft, topRight, bottomLeft, bottomRight) = ("┌", "┐", "└", "┘")
            (teeDown, teeUp, teeRight, teeLeft) = ("┬", "┴", "├", "┤")
            (dot, arrow, legendLine, batchDot) = ("·", "→", "──", "⣀")
            (bestMark, cursor) = ("●", "›")
        }
    }
}

/// The whole screen for a state: pure, so snapshot tests see exactly what the terminal gets.
public func render(_ s: AppState) -> ScreenBuffer {
    var buf = ScreenBuffer(width: s.width, height: s.height)
    let layout = Layout(width: s.width, height: s.height)
    if layout.tooSmall {
        TooSmall.draw(s, &buf)
        return buf
    }
    Frame.draw(s, layout, &buf)
    Header.draw(s, layout, &buf)
    LayerTableView.draw(s, layout.table, &buf)
    TotalsView.draw(s, layout.totals, &buf)
    LossChart.draw(s, layout.chart, &buf)
    DiagnosisPanel.draw(s, layout.diagnosis, &buf)
    let bottom = Rect(x: 2, y: s.height - 1, width: s.width - 4, height: 1)
    if !StatusLine.draw(s, bottom, &buf) { KeyBar.draw(s, bottom, &buf) }
    if s.showOutput { OutputOverlay.draw(s, &buf) }
    if s.showHelp { HelpOverlay.draw(s, buf.area, &buf) }
    if !s.options.color { stripColors(&buf) }
    return buf
}

/// Under NO_COLOR only attributes remain: selection is reverse video, pending is bold+underline.
private func stripColors(_ buf: inout ScreenBuffer) {
    buf.restyle(buf.area) { st in
        st.fg = .none
        st.bg = .none
        st.dim = false
    }
}

/// Text from logs, made safe and (without UTF-8) plain ASCII.
func shown(_ s: AppState, _ text: String) -> String {
    s.options.ascii ? Sanitize.ascii(text) : Sanitize.neutralize(text)
}

enum TooSmall {
    static func draw(_ s: AppState, _ buf: inout ScreenBuffer) {
        guard buf.width > 0, buf.height > 0 else { return }
        let x = s.options.ascii ? "x" : "×"
        let lines = [
            "terminal too small",
            "(need \(Layout.minWidth)\(x)\(Layout.minHeight), have \(s.width)\(x)\(s.height))",
            "q quits",
        ]
        let top = max(0, (buf.height - lines.count) / 2)
        for (i, line) in lines.enumerated() where top + i < buf.height {
            let w = TextWidth.of(line)
            buf.text(line, x: max(0, (buf.width - w) / 2), y: top + i, style: i == 0 ? Style.plain.bolded : .plain)
        }
    }
}

enum Frame {
    static func draw(_ s: AppState, _ l: Layout, _ buf: inout ScreenBuffer) {
        let g = Glyphs(ascii: s.options.ascii)
        let st = Style(fg: .gray)
        let w = buf.width, h = buf.height
        for x in 0..<w {
            buf.put(g.horizontal, x: x, y: 0, style: st)
            buf.put(g.horizontal, x: x, y: h - 1, style: st)
        }
        for y in 0..<h {
            buf.put(g.vertical, x: 0, y: y, style: st)
            buf.put(g.vertical, x: w - 1, y: y, style: st)
            buf.put(g.vertical, x: l.dividerX, y: y, style: st)
        }
        for x in l.left.x..<l.left.maxX { buf.put(g.horizontal, x: x, y: l.leftDividerY, style: st) }
        for x in l.right.x..<l.right.maxX { buf.put(g.horizontal, x: x, y: l.rightDividerY, style: st) }
        buf.put(g.topLeft, x: 0, y: 0, style: st)
        buf.put(g.topRight, x: w - 1, y: 0, style: st)
        buf.put(g.bottomLeft, x: 0, y: h - 1, style: st)
        buf.put(g.bottomRight, x: w - 1, y: h - 1, style: st)
        buf.put(g.teeDown, x: l.dividerX, y: 0, style: st)
        buf.put(g.teeUp, x: l.dividerX, y: h - 1, style: st)
        buf.put(g.teeRight, x: 0, y: l.leftDividerY, style: st)
        buf.put(g.teeLeft, x: l.dividerX, y: l.leftDividerY, style: st)
        buf.put(g.teeRight, x: l.dividerX, y: l.rightDividerY, style: st)
        buf.put(g.teeLeft, x: w - 1, y: l.rightDividerY, style: st)
        if l.leftDividerY == l.rightDividerY {
            buf.put(s.options.ascii ? "+" : "┼", x: l.dividerX, y: l.leftDividerY, style: st)
        }
    }
}

enum Header {
    static func draw(_ s: AppState, _ l: Layout, _ buf: inout ScreenBuffer) {
        let g = Glyphs(ascii: s.options.ascii)
        var parts: [(String, Style)] = [("finetop", Style.plain.bolded), (shown(s, s.title), Style(bold: true))]
        if let info = s.run.info {
            let fw = info.framework + (info.frameworkVersion.map { " " + $0 } ?? "")
            parts.append((shown(s, fw), .plain))
        } else {
            parts.append((s.run.format.rawValue, .plain))
        }
        let (k, n) = s.epochCounter
        parts.append((n.map { "epoch \(k)/\($0)" } ?? "epoch \(k)", .plain))
        parts.append((livenessText(s), livenessStyle(s.liveness)))
        if let job = s.job { parts.append(jobText(job)) }
        if s.run.skippedLines > 0 {
            parts.append(("\(s.run.skippedLines) skipped line\(s.run.skippedLines == 1 ? "" : "s")", Style(fg: .yellow)))
        }
        if s.stopPending { parts.append(("stop requested", Style(fg: .red, bold: true))) }
        var x = 2
        let limit = buf.width - 2
        // The hint is the first thing to go: shown whole or not at all.
        if let hint = s.hint, headerWidth(parts + [(hint, .plain)], nameWidth: .max) <= limit - x {
            parts.append((shown(s, hint), Style(fg: .cyan)))
        }
        // The run name gives way first, so the state (live, finished, …) always fits.
        let others = parts.enumerated().reduce(0) { $0 + ($1.offset == 1 ? 0 : TextWidth.of($1.element.0)) } + 3 * (parts.count - 1) + 2
        let nameRoom = max(8, limit - x - others)
        parts[1].0 = TextWidth.truncate(parts[1].0, to: nameRoom, ascii: s.options.ascii)
        for (i, (text, style)) in parts.enumerated() {
            let sep = i == 0 ? " " : " \(g.dot) "
            if x + TextWidth.of(sep) + 4 > limit { break }
            x += buf.text(sep, x: x, y: 0, style: Style(fg: .gray), maxWidth: limit - x)
            x += buf.text(TextWidth.truncate(text, to: limit - x, ascii: s.options.ascii), x: x, y: 0, style: style, maxWidth: limit - x)
        }
        if x < limit { buf.text(" ", x: x, y: 0) }
    }

    /// The header's width with the run name cut to `nameWidth`.
    static func headerWidth(_ parts: [(String, Style)], nameWidth: Int) -> Int {
        parts.enumerated().reduce(0) { $0 + ($1.offset == 1 ? min(nameWidth, TextWidth.of($1.element.0)) : TextWidth.of($1.element.0)) }
            + 3 * (parts.count - 1) + 1
    }

    static func jobText(_ job: JobView) -> (String, Style) {
        switch job.state {
        case .running: return ("pid \(job.pid)", Style(fg: .green))
        case .exited(0): return ("exited 0", Style(fg: .green, bold: true))
        case .exited(let code): return ("exited with status \(code)", Style(fg: .red, bold: true))
        case .signalled(let sig): return ("killed by \(signalName(sig))", Style(fg: .red, bold: true))
        }
    }

    /// The clock-dependent part of the header; the loop redraws on a tick only when it changes.
    static func livenessText(_ s: AppState) -> String {
        switch s.liveness {
        case .live: return "live"
        case .finished(let reason): return "finished (\(shown(s, reason)))"
        case .stale(let secs): return "stale: no writes for \(duration(secs))"
        case .log: return "read-only log"
        case .ended: return "no end line"
        }
    }

    static func livenessStyle(_ l: Liveness) -> Style {
        switch l {
        case .live: return Style(fg: .green, bold: true)
        case .finished: return Style(fg: .blue, bold: true)
        case .stale: return Style(fg: .yellow, bold: true)
        case .log: return Style(fg: .blue)
        case .ended: return Style(fg: .red, bold: true)
        }
    }

    static func duration(_ secs: Double) -> String {
        let t = Int(secs)
        if t < 120 { return "\(t)s" }
        if t < 7200 { return "\(t / 60)m" }
        return "\(t / 3600)h"
    }
}

enum LayerTableView {
    static func draw(_ s: AppState, _ rect: Rect, _ buf: inout ScreenBuffer) {
        guard rect.height >= 2, rect.width >= 10 else { return }
        let g = Glyphs(ascii: s.options.ascii)
        let layers = s.layers
        let paramsW = 10
        let showClass = rect.width >= 46
        let classW = showClass ? min(20, max(10, (rect.width - paramsW - 6) / 3)) : 0
        let nameW = rect.width - 2 - (showClass ? classW + 1 : 0) - 3 - 1 - paramsW
        let head = Style(fg: .gray, bold: true)
        // Column header with the position.
        let title = "Layers \(layers.count)"
        var hx = rect.x + 1
        buf.text(TextWidth.pad(title, to: nameW + 1), x: hx, y: rect.y, style: head)
        hx += nameW + 1
        if showClass {
            buf.text(TextWidth.pad("Class", to: classW + 1), x: hx, y: rect.y, style: head)
            hx += classW + 1
        }
        buf.text("T ", x: hx, y: rect.y, style: head)
        buf.text(TextWidth.pad("Params", to: paramsW + 2, right: true), x: hx + 2, y: rect.y, style: head)

        guard !layers.isEmpty else {
            let note = s.run.model == nil ? "no model line yet" : "the model has no layers"
            buf.text(note, x: rect.x + 2, y: rect.y + 2, style: Style(fg: .gray))
            return
        }
        let rows = rect.height - 1
        let top = max(0, min(s.scroll, layers.count - 1))
        for r in 0..<rows {
            let i = top + r
            guard i < layers.count else { break }
            let layer = layers[i]
            let y = rect.y + 1 + r
            let selected = i == s.cursor
            let pendingFlag = s.pendingFlag(layer)
            var base = Style.plain
            if !layer.hasWeights { base.fg = .gray }
            var x = rect.x
            buf.text(selected ? String(g.cursor) : " ", x: x, y: y, style: Style(fg: .yellow, bold: true))
            x += 1
            let indent = String(repeating: " ", count: min(layer.depth * 2, max(0, nameW - 4)))
            // Nested layers are named `outer/inner`; the indent already says `outer`.
            let short = layer.depth > 0 ? layer.name.split(separator: "/").last.map(String.init) ?? layer.name : layer.name
            buf.text(TextWidth.pad(indent + shown(s, short), to: nameW, ascii: s.options.ascii), x: x, y: y, style: base)
            x += nameW + 1
            if showClass {
                buf.text(TextWidth.pad(shown(s, layer.className), to: classW, ascii: s.options.ascii), x: x, y: y,
                         style: Style(fg: .gray))
                x += classW + 1
            }
            let flag: String
            var flagStyle = Style.plain
            if !layer.hasWeights {
                flag = "- "
                flagStyle.fg = .gray
            } else if let p = pendingFlag {
                flag = p ? "Y*" : "N*"
                flagStyle = Style(fg: .yellow, bold: true, underline: true)
            } else {
                flag = layer.trainable ? "Y " : "N "
                flagStyle.fg = layer.trainable ? .green : .none
                flagStyle.bold = layer.trainable
            }
            buf.text(flag, x: x, y: y, style: flagStyle)
            x += 3
            buf.text(TextWidth.pad(KerasFormat.count(layer.params), to: paramsW, right: true), x: x, y: y, style: base)
            if selected {
                buf.restyle(Rect(x: rect.x + 1, y: y, width: rect.width - 1, height: 1)) { $0.reverse = true }
            }
        }
        // A scroll position hint on the header's right edge when the table scrolls.
        if layers.count > rows {
            let pos = "\(s.cursor + 1)/\(layers.count)"
            if TextWidth.of(title) + TextWidth.of(pos) + 3 < nameW {
                buf.text(pos, x: rect.x + 1 + nameW - TextWidth.of(pos), y: rect.y, style: Style(fg: .gray))
            }
        }
    }
}

enum TotalsView {
    static func draw(_ s: AppState, _ rect: Rect, _ buf: inout ScreenBuffer) {
        guard rect.height >= 1 else { return }
        guard let model = s.run.model else {
            buf.text("Params: waiting for the model line", x: rect.x + 1, y: rect.y, style: Style(fg: .gray), maxWidth: rect.width - 1)
            return
        }
        let t = model.totals
        let wide = rect.width >= 44
        let rows: [(String, Int, Style)] = [
            (wide ? "Total params:" : "Total:", t.total, Style.plain.bolded),
            (wide ? "Trainable params:" : "Trainable:", t.trainable, Style(fg: .green)),
            (wide ? "Non-trainable params:" : "Non-trainable:", t.nonTrainable, .plain),
        ]
        for (i, row) in rows.enumerated() where i < rect.height {
            line(row.0, row.1, row.2, rect, i, &buf)
        }
        guard rect.height >= 4 else { return }
        let pending = s.pendingCount
        if pending > 0 {
            let after = s.trainableAfterPending
            let d = after - t.trainable
            let sign = d >= 0 ? "+" : "-"
            let arrow = s.options.ascii ? "->" : "→"
            let n = KerasFormat.count(after), dn = "(\(sign)\(KerasFormat.count(abs(d))))"
            let forms = [
                "After \(pending) pending: trainable \(n) \(dn)",
                "Pending \(pending): trainable \(n) \(dn)",
                "Pending \(pending) \(arrow) trainable \(n)",
            ]
            let text = forms.first { TextWidth.of($0) <= rect.width - 2 } ?? forms[2]
            buf.text(text, x: rect.x + 1, y: rect.y + 3, style: Style(fg: .yellow, bold: true), maxWidth: rect.width - 1)
        } else if let reason = s.readOnlyReason {
            buf.text("read-only: \(reason)", x: rect.x + 1, y: rect.y + 3, style: Style(fg: .gray), maxWidth: rect.width - 1)
        } else {
            let rev = s.control.revision > 0 ? " (control revision \(s.control.revision))" : ""
            buf.text("No pending changes" + rev, x: rect.x + 1, y: rect.y + 3, style: Style(fg: .gray), maxWidth: rect.width - 1)
        }
    }

    private static func line(_ label: String, _ n: Int, _ style: Style, _ rect: Rect, _ i: Int, _ buf: inout ScreenBuffer) {
        var value = "\(KerasFormat.count(n)) (\(KerasFormat.memory(params: n)))"
        // Narrow panes keep the count and drop the size.
        if TextWidth.of(label) + 1 + TextWidth.of(value) > rect.width - 2 { value = KerasFormat.count(n) }
        let y = rect.y + i
        buf.text(label, x: rect.x + 1, y: y, style: style)
        let vw = TextWidth.of(value)
        let x = max(rect.x + 1 + TextWidth.of(label) + 1, rect.maxX - vw - 1)
        buf.text(value, x: x, y: y, style: style, maxWidth: rect.maxX - x)
    }
}

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
        let d = s.report.current
        let w = rect.width - 2
        var lines: [(String, Style)] = []
        var head = title(d.label)
        switch d.label {
        case .tooEarly: head += " (\(d.epochs) epoch\(d.epochs == 1 ? "" : "s") seen)"
        case .underfitting, .overfitting, .fit, .diverging:
            head += " since epoch \(d.sinceEpoch + 1)"
            if d.confidence > 0 { head += " \(g.dot) \(Int((d.confidence * 100).rounded()))% sure" }
        }
        lines.append((head, labelStyle(d.label)))
        var evidence: [(String, Style)] = []
        for e in d.evidence {
            for (k, part) in wrap(shown(s, e), width: w - 2).enumerated() {
                evidence.append(((k == 0 ? "\(g.dot) " : "  ") + part, .plain))
            }
        }
        var suggestions: [[(String, Style)]] = []
        for (i, sug) in d.suggestions.enumerated() {
            var text = shown(s, sug.text)
            if i == 0 && sug.action != nil { text += "  [a] apply" }
            let prefix = g.arrow + " "
            let pad = String(repeating: " ", count: TextWidth.of(prefix))
            let style = i == 0 ? Style(fg: .cyan, bold: true) : Style(fg: .cyan)
            suggestions.append(wrap(text, width: w - TextWidth.of(prefix)).enumerated().map { k, part in
                ((k == 0 ? prefix : pad) + part, style)
            })
        }
        // On a short panel the top suggestion (what to do) beats the later evidence lines.
        let room = rect.height - 1
        let topSuggestion = suggestions.first ?? []
        let reserved = min(topSuggestion.count, max(0, room - min(evidence.count, 2)))
        lines += evidence.prefix(max(0, room - reserved))
        lines += topSuggestion
        for more in suggestions.dropFirst() { lines += more }
        for (i, line) in lines.prefix(rect.height).enumerated() {
            buf.text(line.0, x: rect.x + 1, y: rect.y + i, style: line.1, maxWidth: w)
        }
        if lines.count > rect.height, rect.height > 0 {
            buf.text(s.options.ascii ? "..." : "…", x: rect.maxX - 2, y: rect.maxY - 1, style: Style(fg: .gray))
        }
    }

    /// Greedy word wrap by display width; words longer than a line are cut.
    static func wrap(_ text: String, width: Int) -> [String] {
        guard width > 0 else { return [] }
        var out: [String] = []
        var line = ""
        var lineW = 0
        for word in text.split(separator: " ", omittingEmptySubsequences: true) {
            var wd = String(word)
            var ww = TextWidth.of(wd)
            if lineW > 0 && lineW + 1 + ww > width {
                out.append(line)
                line = ""
                lineW = 0
            }
            while ww > width {
                let head = TextWidth.truncate(wd, to: width + 1).dropLast()
                out.append(String(head))
                wd = String(wd.dropFirst(head.count))
                ww = TextWidth.of(wd)
            }
            if lineW > 0 { line += " "; lineW += 1 }
            line += wd
            lineW += ww
        }
        if !line.isEmpty { out.append(line) }
        return out
    }
}

/// The tail of the job's output.log over the dashboard (`o`), so a traceback is readable.
enum OutputOverlay {
    static func draw(_ s: AppState, _ buf: inout ScreenBuffer) {
        let w = buf.width - 4, h = buf.height - 2
        guard w > 10, h > 3 else { return }
        let g = Glyphs(ascii: s.options.ascii)
        let box = Rect(x: 2, y: 1, width: w, height: h)
        OverlayBox.draw(box, title: " output.log \(g.dot) any key closes ", g, &buf)
        let textW = w - 4
        var rows: [String] = []
        for line in s.outputLines {
            let wrapped = wrapChars(shown(s, line), width: textW)
            rows += wrapped.isEmpty ? [""] : wrapped
        }
        if rows.isEmpty { rows = ["(output.log is empty)"] }
        for (i, row) in rows.suffix(h - 2).enumerated() {
            buf.text(row, x: box.x + 2, y: box.y + 1 + i, style: .plain, maxWidth: textW)
        }
    }

    /// Cuts a line into pieces of at most `width` columns (tracebacks are not prose: no word wrap).
    static func wrapChars(_ text: String, width: Int) -> [String] {
        guard width > 0, !text.isEmpty else { return [] }
        var out: [String] = []
        var line = ""
        var lineW = 0
        for ch in text {
            let cw = TextWidth.of(String(ch))
            if lineW + cw > width {
                out.append(line)
                line = ""
                lineW = 0
            }
            line.append(ch)
            lineW += cw
        }
        if !line.isEmpty { out.append(line) }
        return out
    }
}

/// The last lines of output.log as a terminal would show them: a carriage return (progress bars)
/// keeps only what follows it, backspaces erase. Pure, for the loop to feed the overlay.
public enum OutputTail {
    public static let maxBytes = 64 * 1024
    public static let maxLines = 400

    /// `bytes` is the end of the file; `fromStart` says whether it begins at the file's start
    /// (else its first, partial line is dropped).
    public static func lines(_ bytes: [UInt8], fromStart: Bool) -> [String] {
        var parts = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { Array($0) }
        if !fromStart && !parts.isEmpty { parts.removeFirst() }
        if parts.last?.isEmpty == true { parts.removeLast() }
        return parts.suffix(maxLines).map { raw in
            var line = String(decoding: raw, as: UTF8.self)
            if line.hasSuffix("\r") { line.removeLast() }
            if let cr = line.lastIndex(of: "\r") { line = String(line[line.index(after: cr)...]) }
            if line.contains("\u{8}") {
                var kept = ""
                for ch in line {
                    if ch == "\u{8}" { if !kept.isEmpty { kept.removeLast() } } else { kept.append(ch) }
                }
                line = kept
            }
            return line.replacingTabs()
        }
    }
}

private extension String {
    func replacingTabs() -> String {
        guard contains("\t") else { return self }
        var out = ""
        var col = 0
        for ch in self {
            if ch == "\t" {
                let n = 8 - col % 8
                out += String(repeating: " ", count: n)
                col += n
            } else {
                out.append(ch)
                col += 1
            }
        }
        return out
    }
}
