/// A small seeded random number generator (PCG-XSH-RR, 64-bit state), so the same seed gives the
/// same weights, shuffles and dropout masks on every machine and Swift version.
public struct PCG32: Sendable {
    private var state: UInt64
    private let increment: UInt64

    public init(seed: UInt64, stream: UInt64 = 0x5851_F42D_4C95_7F2D) {
        state = 0
        increment = (stream << 1) | 1
        _ = next()
        state &+= seed
        _ = next()
    }

    public mutating func next() -> UInt32 {
        let old = state
        state = old &* 6_364_136_223_846_793_005 &+ increment
        let xorShifted = UInt32(truncatingIfNeeded: ((old >> 18) ^ old) >> 27)
        let rotation = UInt32(truncatingIfNeeded: old >> 59)
        return (xorShifted >> rotation) | (xorShifted << ((~rotation &+ 1) & 31))
    }

    /// Uniform in [0, 1), 53 random bits.
    public mutating func nextDouble() -> Double {
        let bits = (UInt64(next()) << 32 | UInt64(next())) >> 11
        return Double(bits) * 0x1p-53
    }

    /// Uniform in 0..<bound, without modulo bias.
    public mutating func next(below bound: Int) -> Int {
        precondition(bound > 0)
        let b = UInt64(bound)
        let limit = UInt64.max - UInt64.max % b
        while true {
            let r = UInt64(next()) << 32 | UInt64(next())
            if r < limit { return Int(r % b) }
        }
    }

    /// Fisher–Yates, written out so the order does not depend on the standard library's algorithm.
    public mutating func shuffle<T>(_ array: inout [T]) {
        guard array.count > 1 else { return }
        for i in stride(from: array.count - 1, to: 0, by: -1) {
            array.swapAt(i, next(below: i + 1))
        }
    }
}
