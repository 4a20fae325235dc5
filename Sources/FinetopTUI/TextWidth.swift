/// Display width of text, independent of the C locale so tests and terminals agree.
public enum TextWidth {
    public static func of(_ ch: Character) -> Int {
        guard let first = ch.unicodeScalars.first else { return 0 }
        return of(first)
    }

    public static func of(_ s: Unicode.Scalar) -> Int {
        let v = s.value
        if v < 0x300 { return 1 }   // ASCII and Latin-1 (controls are neutralized to one `?`)
        // The dashboard's own glyphs (arrows, box drawing, blocks, braille): the hot path of a frame.
        if (0x2190...0x21FF).contains(v) || (0x2500...0x25FC).contains(v) || (0x2800...0x28FF).contains(v) { return 1 }
        switch s.properties.generalCategory {
        case .nonspacingMark, .enclosingMark, .format: return 0
        default: break
        }
        if s.properties.isEmojiPresentation { return 2 }
        switch v {
        case 0x1100...0x115F, 0x231A...0x231B, 0x2329...0x232A, 0x2E80...0x303E, 0x3041...0x33FF,
             0x3400...0x4DBF, 0x4E00...0x9FFF, 0xA000...0xA4CF, 0xA960...0xA97F, 0xAC00...0xD7A3,
             0xF900...0xFAFF, 0xFE10...0xFE19, 0xFE30...0xFE6F, 0xFF00...0xFF60, 0xFFE0...0xFFE6,
             0x1F300...0x1F64F, 0x1F900...0x1F9FF, 0x20000...0x2FFFD, 0x30000...0x3FFFD:
            return 2
        default:
            return 1
        }
    }

    public static func of(_ s: String) -> Int {
        // Printable ASCII (nearly every layer name): one column a byte.
        if s.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return s.utf8.count }
        return Sanitize.neutralize(s).reduce(0) { $0 + of($1) }
    }

    /// Cuts `s` to at most `width` columns, ending in `…` (or `~` in ASCII) when it had to cut.
    public static func truncate(_ s: String, to width: Int, ascii: Bool = false) -> String {
        guard width > 0 else { return "" }
        let clean = Sanitize.neutralize(s)
        if of(clean) <= width { return clean }
        var out = ""
        var w = 0
        for ch in clean {
            let cw = of(ch)
            if w + cw > width - 1 { break }
            out.append(ch)
            w += cw
        }
        return out + (ascii ? "~" : "…")
    }

    /// Pads with spaces (or cuts) to exactly `width` columns.
    public static func pad(_ s: String, to width: Int, right: Bool = false, ascii: Bool = false) -> String {
        let t = truncate(s, to: width, ascii: ascii)
        let n = max(0, width - of(t))
        let pad = String(repeating: " ", count: n)
        return right ? pad + t : t + pad
    }
}
