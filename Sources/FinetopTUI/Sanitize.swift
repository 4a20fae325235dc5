/// Makes text from logs safe to draw: control characters, ESC and bidi overrides become `?`,
/// so a layer name can never move the cursor, change colors or retitle the terminal.
public enum Sanitize {
    public static func neutralize(_ s: String) -> String {
        var needs = false
        for u in s.unicodeScalars where isUnsafe(u) { needs = true; break }
        if !needs { return s }
        var out = String.UnicodeScalarView()
        for u in s.unicodeScalars { out.append(isUnsafe(u) ? "?" : u) }
        return String(out)
    }

    static func isUnsafe(_ u: Unicode.Scalar) -> Bool {
        let v = u.value
        return v < 0x20 || (v >= 0x7F && v < 0xA0) || (0x202A...0x202E).contains(v) || (0x2066...0x2069).contains(v)
            || v == 0x200E || v == 0x200F || v == 0xFEFF
    }

    /// Replaces anything outside printable ASCII by `?`, for terminals whose locale is not UTF-8.
    public static func ascii(_ s: String) -> String {
        String(String.UnicodeScalarView(neutralize(s).unicodeScalars.map { $0.value < 0x7F ? $0 : "?" }))
    }
}
