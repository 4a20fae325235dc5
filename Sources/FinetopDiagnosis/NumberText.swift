#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Numbers as the evidence sentences print them, without Foundation or the locale.
enum NumberText {
    /// A loss or a metric with three significant digits: 0.412, 0.58, 1.23e+03.
    static func value(_ x: Double) -> String {
        if x.isNaN { return "NaN" }
        if x.isInfinite { return x < 0 ? "-Inf" : "Inf" }
        return printf("%.3g", x)
    }

    /// A learning rate as Keras users write it: 0.001, 0.0001, 2.
    static func rate(_ x: Double) -> String { printf("%g", x) }

    /// A fraction as a whole percentage: 0.412 → "41%".
    static func percent(_ fraction: Double) -> String {
        guard fraction.isFinite else { return fraction > 0 ? "∞%" : "NaN%" }
        return "\(Int((fraction * 100).rounded()))%"
    }

    /// A change of rate as "×10" or "÷10".
    static func rateFactor(_ factor: Double) -> String {
        factor >= 1 ? "×" + rate(factor) : "÷" + rate((1 / factor * 1e9).rounded() / 1e9)
    }

    /// A ratio as "3.1×".
    static func times(_ ratio: Double) -> String { printf("%.2g", ratio) + "×" }

    static func printf(_ format: String, _ x: Double) -> String {
        var buffer = [CChar](repeating: 0, count: 64)
        _ = withVaList([x]) { vsnprintf(&buffer, 64, format, $0) }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
