import FinetopCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Number labels for axes: short, three significant digits.
enum NumberFormat {
    static func short(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "Inf" : "-Inf" }
        let a = abs(v)
        if a == 0 { return "0" }
        if a >= 1e5 || a < 1e-3 { return cFormat("%.1e", v) }
        if a >= 100 { return cFormat("%.0f", v) }
        if a >= 10 { return cFormat("%.1f", v) }
        if a >= 1 { return cFormat("%.2f", v) }
        return cFormat("%.3f", v)
    }

    /// Whole epochs without decimals.
    static func tick(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int(v)) : short(v)
    }

    static func value(_ v: Double) -> String {
        if !v.isFinite { return short(v) }
        let a = abs(v)
        if a != 0 && (a >= 1e5 || a < 1e-3) { return cFormat("%.3e", v) }
        return cFormat("%.4f", v)
    }

    /// Labels for values spaced evenly on an axis, with as many decimals as their spacing needs so
    /// no two read the same (`1.395 / 1.385 / 1.375`, not `1.39 / 1.39 / 1.38`), each at most
    /// `width` columns; short forms when the spacing allows.
    static func axisLabels(_ values: [Double], width: Int) -> [String] {
        let plain = values.map(short)
        func distinct(_ ls: [String]) -> Bool { Set(ls).count == ls.count }
        if distinct(plain) { return plain }
        let finite = values.filter(\.isFinite)
        guard finite.count == values.count, let lo = finite.min(), let hi = finite.max(), hi > lo else { return plain }
        let step = (hi - lo) / Double(max(1, values.count - 1))
        let first = max(0, Int((-log10(step)).rounded(.up)))
        for decimals in first...(first + 4) {
            let ls = values.map { cFormat("%.\(decimals)f", $0) }
            guard ls.allSatisfy({ $0.count <= width }) else { break }
            if distinct(ls) { return ls }
        }
        for digits in 2...6 {
            let ls = values.map { cFormat("%.\(digits)e", $0) }
            if distinct(ls) || digits == 6 { return ls.map { String($0.prefix(max(width, 0))) } }
        }
        return plain
    }

    static func cFormat(_ f: String, _ v: Double) -> String {
        var buffer = [CChar](repeating: 0, count: 64)
        _ = withVaList([v]) { vsnprintf(&buffer, 64, f, $0) }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
