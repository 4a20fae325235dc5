/// Fitting text into columns: prose wraps at spaces, and a piece that cannot fit says so with `…`.
enum WordWrap {
    /// Greedy word wrap by display width. A word longer than a line breaks after a `/`, `.`, `_`,
    /// `,`, `=` or `(` inside it when one fits (paths, `EarlyStopping(monitor=…)`); a word
    /// without such a place is cut and ends in `…`, never split silently.
    static func words(_ text: String, width: Int, ascii: Bool = false) -> [String] {
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
                guard let cut = breakPoint(wd, width: width) else {
                    wd = TextWidth.truncate(wd, to: width, ascii: ascii)
                    ww = TextWidth.of(wd)
                    break
                }
                out.append(String(wd[..<cut]))
                wd = String(wd[cut...])
                ww = TextWidth.of(wd)
            }
            if lineW > 0 { line += " "; lineW += 1 }
            line += wd
            lineW += ww
        }
        if !line.isEmpty { out.append(line) }
        return out
    }

    /// The last place within `width` columns after which a long word may break, if any.
    static func breakPoint(_ word: String, width: Int) -> String.Index? {
        var w = 0
        var best: String.Index?
        var i = word.startIndex
        while i < word.endIndex {
            let ch = word[i]
            w += TextWidth.of(ch)
            if w > width { break }
            let next = word.index(after: i)
            if "/._,=(".contains(ch) && next < word.endIndex { best = next }
            i = next
        }
        return best
    }

    /// Cuts a log line into pieces of at most `width` columns, at a space when the piece has one
    /// past its indentation, else (a word longer than the width) between characters. Nothing is
    /// dropped or added: the pieces joined give the line back, its indentation included (a
    /// traceback keeps its shape).
    static func logLine(_ text: String, width: Int) -> [String] {
        guard width > 0, !text.isEmpty else { return [] }
        var out: [String] = []
        var line: [Character] = []
        var lineW = 0
        for ch in text {
            let cw = TextWidth.of(String(ch))
            if lineW + cw > width, !line.isEmpty {
                // The last space after the first character that is not one: break after it.
                let firstWord = line.firstIndex { $0 != " " } ?? line.count
                if ch != " ", let space = line.lastIndex(of: " "), space >= firstWord {
                    out.append(String(line[...space]))
                    line = Array(line[(space + 1)...])
                } else {
                    out.append(String(line))
                    line = []
                }
                lineW = TextWidth.of(String(line))
            }
            line.append(ch)
            lineW += cw
        }
        if !line.isEmpty { out.append(String(line)) }
        return out
    }

    /// Cuts a line into pieces of at most `width` columns (tracebacks are not prose: no word wrap).
    static func characters(_ text: String, width: Int) -> [String] {
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

    /// The first `count` lines of a wrapped block; when lines were left out the last kept one ends
    /// in `…` (cut to make room), so a reader sees the text goes on.
    static func fit(_ lines: [String], count: Int, width: Int, ascii: Bool = false) -> [String] {
        guard count > 0 else { return [] }
        guard lines.count > count else { return lines }
        var kept = Array(lines.prefix(count))
        let mark = ascii ? "~" : "…"
        let last = kept[count - 1]
        if TextWidth.of(last) + 1 <= width {
            kept[count - 1] = last + mark
        } else {
            kept[count - 1] = TextWidth.truncate(last + mark + mark, to: width, ascii: ascii)
        }
        return kept
    }
}
