import FinetopCore
import FinetopDiagnosis

/// The top edge: finetop, the run, framework, epoch, liveness, the job, skipped lines, a hint.
enum Header {
    static func draw(_ s: AppState, _ row: Rect, _ buf: inout ScreenBuffer) {
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
        let tuningAt = parts.count
        if let job = s.job { parts.append(jobText(job)) }
        if s.run.skippedLines > 0 {
            parts.append(("\(s.run.skippedLines) skipped line\(s.run.skippedLines == 1 ? "" : "s")", Style(fg: .yellow)))
        }
        if s.stopPending { parts.append(("stop requested", Style(fg: .red, bold: true))) }
        var x = row.x
        let limit = row.maxX
        // The rate and the plan after the liveness, as many as fit with the run name at its shortest.
        let all = TuningHeader.parts(s)
        func fitting(_ base: [(String, Style)]) -> Int {
            var n = all.count
            while n > 0 && headerWidth(base + all.prefix(n), nameWidth: 8) > limit - x { n -= 1 }
            return n
        }
        var fitCount = fitting(parts)
        // A running job's pid gives way to them when that lets one more show (an exit status never does).
        if fitCount < all.count, let job = s.job, job.isRunning {
            var without = parts
            without.remove(at: tuningAt)
            let m = fitting(without)
            if m > fitCount { (parts, fitCount) = (without, m) }
        }
        let tuning = Array(all.prefix(fitCount))
        parts.insert(contentsOf: tuning, at: tuningAt)
        // Keras's wait for the epoch end, whole or not at all (the toggle's note and `Y*` say it too).
        if let wait = TuningHeader.kerasWait(s), headerWidth(parts + [wait], nameWidth: 8) <= limit - x { parts.append(wait) }
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
            x += buf.text(sep, x: x, y: row.y, style: Style(fg: .gray), maxWidth: limit - x)
            x += buf.text(TextWidth.truncate(text, to: limit - x, ascii: s.options.ascii), x: x, y: row.y, style: style, maxWidth: limit - x)
        }
        if x < limit { buf.text(" ", x: x, y: row.y) }
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
