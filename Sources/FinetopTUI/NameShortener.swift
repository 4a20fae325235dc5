/// Fits layer names into a column so rows stay tellable apart. A Keras name is cut in the middle,
/// keeping the start and the distinguishing end (`expande…v_depthwise_BN`); a module path has its
/// parts shortened from the left, numbers and the last part kept (`b.e.l.3.a.self.query`). Names
/// that still read alike get the other form, and as a last resort show where they differ.
enum NameShortener {
    /// Each name cut to its width; two different names never come out the same when any form
    /// within their widths tells them apart.
    static func shorten(_ names: [(name: String, width: Int)], ascii: Bool = false) -> [String] {
        // A module path (`bert.encoder.layer.3.attention.self.query`) reads best with its parts
        // shortened and its numbers kept; a Keras name (`expanded_conv_depthwise_BN`) cut in the middle.
        var out = names.map { n in
            n.name.contains(".") ? path(n.name, to: n.width, ascii: ascii) : middle(n.name, to: n.width, ascii: ascii)
        }
        // Names that still read alike: the other form, then their ends, then where they differ.
        for pass in 0..<3 {
            var groups: [String: [Int]] = [:]
            for (i, s) in out.enumerated() { groups[s, default: []].append(i) }
            for (_, idx) in groups where idx.count > 1 {
                let originals = idx.map { names[$0].name }
                guard Set(originals).count > 1 else { continue }
                let p = commonPrefix(originals)
                let forms = idx.map { i -> String in
                    let (name, w) = names[i]
                    switch pass {
                    case 0: return name.contains(".") ? middle(name, to: w, ascii: ascii) : path(name, to: w, ascii: ascii)
                    case 1: return tail(name, to: w, ascii: ascii)
                    default: return around(name, differingAt: p, to: w, ascii: ascii)
                    }
                }
                guard Set(forms).count == forms.count || pass == 2 else { continue }
                for (k, i) in idx.enumerated() { out[i] = forms[k] }
            }
        }
        return out
    }

    /// A module path shortened by its parts; when that is not enough, what follows its last number
    /// (`…5.a.o.dense`), then that number and the last part (`…6249…g_proj`: a number is never
    /// cut, `…49.m.g_proj` would read as layer 49), else its end.
    static func path(_ name: String, to width: Int, ascii: Bool = false) -> String {
        let short = abbreviated(name, to: width)
        if TextWidth.of(short) <= width { return short }
        let mark = ascii ? "~" : "…"
        let parts = short.split(separator: ".", omittingEmptySubsequences: false)
        if let n = parts.lastIndex(where: { !$0.isEmpty && $0.allSatisfy(\.isNumber) }) {
            let fromNumber = mark + parts[n...].joined(separator: ".")
            if TextWidth.of(fromNumber) <= width { return fromNumber }
            if n + 1 < parts.count, let last = parts.last {
                let ends = mark + parts[n] + mark + last
                if TextWidth.of(ends) <= width { return ends }
            }
        }
        return tail(short, to: width, ascii: ascii)
    }

    /// `…` and as much of the end as fits.
    static func tail(_ name: String, to width: Int, ascii: Bool = false) -> String {
        guard width > 0 else { return "" }
        if TextWidth.of(name) <= width { return name }
        return (ascii ? "~" : "…") + suffix(name, width - 1)
    }

    /// `name` cut in the middle to `width` columns: a third kept from the start, the rest from the
    /// end. A numbered block's name (`block_16_depthwise_BN`) keeps its block as initial and number
    /// (`b_16_depthwise_BN`, else `b_16_de…ise_BN`), so rows of different blocks stay apart.
    static func middle(_ name: String, to width: Int, ascii: Bool = false) -> String {
        guard width > 0 else { return "" }
        if TextWidth.of(name) <= width { return name }
        let mark = ascii ? "~" : "…"
        if width <= 2 { return TextWidth.truncate(name, to: width, ascii: ascii) }
        if let (block, rest) = numberedBlock(name) {
            let head = abbreviated(block, to: 0)
            if TextWidth.of(head + rest) <= width { return head + rest }
            let room = width - TextWidth.of(head)
            if room >= 7 { return head + middle(rest, to: room, ascii: ascii) }
        }
        let keep = width - 1
        let headW = max(1, keep / 3)
        return prefix(name, headW) + mark + suffix(name, keep - headW)
    }

    /// An underscored name's block (up to its first token with a digit that has more after it,
    /// as `LayerBlocks.key` groups Keras rows) and the rest: `block_16_expand_BN` → (`block_16`,
    /// `_expand_BN`); nil for a name without one.
    static func numberedBlock(_ name: String) -> (String, String)? {
        guard !name.contains("."), !name.contains("/") else { return nil }
        let tokens = name.split(separator: "_", omittingEmptySubsequences: false)
        guard let n = tokens.firstIndex(where: { $0.contains(where: \.isNumber) }), n + 1 < tokens.count else { return nil }
        let block = tokens[...n].joined(separator: "_")
        return (block, String(name.dropFirst(block.count)))
    }

    /// Shortens the parts of a dotted, slashed or underscored name to their first letter, from
    /// the left, until it fits (or all are short); numbers and the last part stay whole.
    static func abbreviated(_ name: String, to width: Int) -> String {
        var parts: [(text: String, sep: String)] = []
        var current = ""
        for ch in name {
            if "._/-".contains(ch) {
                parts.append((current, String(ch)))
                current = ""
            } else {
                current.append(ch)
            }
        }
        parts.append((current, ""))
        func joined() -> String { parts.map { $0.text + $0.sep }.joined() }
        for i in parts.indices.dropLast() {
            if TextWidth.of(joined()) <= width { break }
            let t = parts[i].text
            guard t.count > 1, !t.allSatisfy(\.isNumber) else { continue }
            parts[i].text = String(t.prefix(1))
        }
        return joined()
    }

    /// The part of `name` from just before where it differs from its look-alikes, `…` on each cut side.
    static func around(_ name: String, differingAt p: Int, to width: Int, ascii: Bool) -> String {
        let mark = ascii ? "~" : "…"
        let start = max(0, p - 2)
        var tail = String(name.dropFirst(start))
        if start > 0 { tail = mark + tail }
        return TextWidth.truncate(tail, to: width, ascii: ascii)
    }

    static func commonPrefix(_ names: [String]) -> Int {
        guard let first = names.first else { return 0 }
        var n = 0
        let arrays = names.map(Array.init)
        let a = Array(first)
        while n < a.count && arrays.allSatisfy({ n < $0.count && $0[n] == a[n] }) { n += 1 }
        return n
    }

    private static func prefix(_ s: String, _ width: Int) -> String {
        var out = ""
        var w = 0
        for ch in s {
            let cw = TextWidth.of(ch)
            if w + cw > width { break }
            out.append(ch)
            w += cw
        }
        return out
    }

    private static func suffix(_ s: String, _ width: Int) -> String {
        var out: [Character] = []
        var w = 0
        for ch in s.reversed() {
            let cw = TextWidth.of(ch)
            if w + cw > width { break }
            out.append(ch)
            w += cw
        }
        return String(out.reversed())
    }
}
