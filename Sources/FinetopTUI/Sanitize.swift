import FinetopCore

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

    /// The rule is Core's (`DisplayText.isUnsafe`): one definition of unsafe text for every printer.
    static func isUnsafe(_ u: Unicode.Scalar) -> Bool { DisplayText.isUnsafe(u) }

    /// Replaces anything outside printable ASCII by `?`, for terminals whose locale is not UTF-8.
    public static func ascii(_ s: String) -> String {
        String(String.UnicodeScalarView(neutralize(s).unicodeScalars.map { $0.value < 0x7F ? $0 : "?" }))
    }
}
