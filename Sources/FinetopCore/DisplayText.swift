/// Makes strings from logs safe to show: a layer or metric name must never be able to drive the
/// terminal, so control characters and escape sequences are shown as visible escapes.
public enum DisplayText {
    public static func neutralize(_ s: String) -> String {
        var needs = false
        for u in s.unicodeScalars where isUnsafe(u) { needs = true; break }
        guard needs else { return s }
        var out = ""
        out.reserveCapacity(s.utf8.count + 8)
        for u in s.unicodeScalars {
            if isUnsafe(u) {
                out += u.value <= 0xFF ? "\\x" + hex2(u.value) : "\\u{" + String(u.value, radix: 16) + "}"
            } else {
                out.unicodeScalars.append(u)
            }
        }
        return out
    }

    /// The one rule for text from logs, shared by every printer (the dashboard draws these as `?`,
    /// the plain-text commands as escapes): C0 and C1 controls, DEL, every bidirectional control
    /// that can reorder or hide what is shown (LRM/RLM U+200E/U+200F, ALM U+061C, the embeddings,
    /// overrides and isolates), the byte-order mark U+FEFF, and the line/paragraph separators.
    @inline(__always) public static func isUnsafe(_ u: Unicode.Scalar) -> Bool {
        let v = u.value
        if v >= 0x20 && v < 0x7F { return false }
        return v < 0x20 || (v >= 0x7F && v < 0xA0) || (v >= 0x202A && v <= 0x202E) || (v >= 0x2066 && v <= 0x2069)
            || v == 0x200E || v == 0x200F || v == 0x061C || v == 0xFEFF || v == 0x2028 || v == 0x2029
    }

    private static func hex2(_ v: UInt32) -> String {
        let h = String(v, radix: 16)
        return h.count == 1 ? "0" + h : h
    }
}
