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
