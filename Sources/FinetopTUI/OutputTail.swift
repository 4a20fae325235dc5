/// The last lines of output.log as a terminal would show them: a carriage return (progress bars)
/// keeps only what follows it, backspaces erase, a cursor moved up (`ESC[nA`, Rich's live
/// display redrawing its rows) rewrites the rows above instead of adding new ones, and other
/// escape sequences (colors, erasing) are dropped. Pure, for the loop to feed the overlay.
public enum OutputTail {
    public static let maxBytes = 64 * 1024
    public static let maxLines = 400

    /// `bytes` is the end of the file; `fromStart` says whether it begins at the file's start
    /// (else its first, partial line is dropped).
    public static func lines(_ bytes: [UInt8], fromStart: Bool) -> [String] {
        var start = 0
        if !fromStart, let nl = bytes.firstIndex(of: UInt8(ascii: "\n")) { start = nl + 1 } else if !fromStart { return [] }
        var screen: [[Unicode.Scalar]] = [[]]
        var row = 0
        let text = Array(String(decoding: bytes[start...], as: UTF8.self).unicodeScalars)
        var i = 0
        func next() -> Unicode.Scalar? {
            guard i < text.count else { return nil }
            defer { i += 1 }
            return text[i]
        }
        while let u = next() {
            switch u {
            case "\n":
                row += 1
                if row == screen.count { screen.append([]) }
            case "\r":
                // A line end `\r\n` keeps the line; a lone `\r` redraws it.
                if i < text.count && text[i] == "\n" { continue }
                screen[row] = []
            case "\u{8}":
                if !screen[row].isEmpty { screen[row].removeLast() }
            case "\u{1B}":
                // CSI: ESC [ parameters… final byte in @…~; anything else after ESC is dropped with it.
                guard let n = next(), n == "[" else { continue }
                var parameters = ""
                var final: Unicode.Scalar?
                while let p = next() {
                    if (0x40...0x7E).contains(p.value) { final = p; break }
                    if parameters.unicodeScalars.count < 16 { parameters.unicodeScalars.append(p) }
                }
                switch final {
                case "A":
                    row = max(0, row - max(1, Int(parameters) ?? 1))
                case "K":
                    screen[row] = []
                default:
                    continue
                }
            case "\t":
                let n = 8 - screen[row].count % 8
                screen[row].append(contentsOf: repeatElement(" ", count: n))
            default:
                screen[row].append(u)
            }
        }
        if screen.last?.isEmpty == true { screen.removeLast() }
        return screen.suffix(maxLines).map { String(String.UnicodeScalarView($0)) }
    }
}
