import Foundation

/// A parsed JSON value. Objects keep their key order (log files are read in the order they were written).
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.number(x), .number(y)): return x == y || (x.isNaN && y.isNaN)
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    public subscript(key: String) -> JSONValue? {
        guard case .object(let pairs) = self else { return nil }
        return pairs.first(where: { $0.0 == key })?.1
    }

    public var double: Double? {
        switch self {
        case .number(let d): return d
        case .null: return nil
        default: return nil
        }
    }
    /// An integer, when the value is a whole number that fits.
    public var int: Int? {
        guard case .number(let d) = self, d.isFinite, d == d.rounded(),
              abs(d) < 9.0e18 else { return nil }
        return Int(d)
    }
    public var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }
    public var bool: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }
    public var array: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }
    public var objectPairs: [(String, JSONValue)]? {
        if case .object(let o) = self { return o }
        return nil
    }
}

/// Why a JSON text could not be read.
public struct JSONError: Error, Sendable, Equatable, CustomStringConvertible {
    public let offset: Int
    public let reason: String
    public var description: String { "\(reason) at byte \(offset)" }
}

/// Parses JSON text into a `JSONValue`. Accepts what Python's `json` writes: `NaN`, `Infinity`
/// and `-Infinity`. Nesting is bounded so hostile input cannot exhaust the stack.
public enum JSONParser {
    public static let maxDepth = 512

    public static func parse(_ data: Data) throws(JSONError) -> JSONValue {
        let result: Result<JSONValue, JSONError> = data.withUnsafeBytes { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            return parse(bytes)
        }
        return try result.get()
    }

    public static func parse(_ text: String) throws(JSONError) -> JSONValue {
        var copy = text
        let result: Result<JSONValue, JSONError> = copy.withUTF8 { parse($0) }
        return try result.get()
    }

    public static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> Result<JSONValue, JSONError> {
        guard let base = bytes.baseAddress else {
            return .failure(JSONError(offset: 0, reason: "empty input"))
        }
        var c = JSONCursor(base: base, count: bytes.count)
        c.skipBOM()
        c.skipSpace()
        do throws(JSONError) {
            let v = try c.parseValue(depth: 0)
            c.skipSpace()
            if c.i != c.end { throw JSONError(offset: c.i, reason: "unexpected text after the value") }
            return .success(v)
        } catch {
            return .failure(error)
        }
    }
}

/// A cursor over UTF-8 bytes with the primitives both the tree parser and the fast event
/// scanner use. It never reads past `end`.
struct JSONCursor {
    let base: UnsafePointer<UInt8>
    let end: Int
    var i: Int = 0

    init(base: UnsafePointer<UInt8>, count: Int) {
        self.base = base
        self.end = count
    }

    @inline(__always) var atEnd: Bool { i >= end }
    @inline(__always) func peek() -> UInt8 { i < end ? base[i] : 0 }

    mutating func skipBOM() {
        if end - i >= 3, base[i] == 0xEF, base[i + 1] == 0xBB, base[i + 2] == 0xBF { i += 3 }
    }

    @inline(__always) mutating func skipSpace() {
        while i < end {
            let b = base[i]
            if b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 { i += 1 } else { return }
        }
    }

    @inline(__always) mutating func consume(_ b: UInt8) -> Bool {
        skipSpace()
        if i < end && base[i] == b { i += 1; return true }
        return false
    }

    mutating func parseValue(depth: Int) throws(JSONError) -> JSONValue {
        guard depth < JSONParser.maxDepth else {
            throw JSONError(offset: i, reason: "nested deeper than \(JSONParser.maxDepth) levels")
        }
        skipSpace()
        guard i < end else { throw JSONError(offset: i, reason: "unexpected end of input") }
        switch base[i] {
        case UInt8(ascii: "{"):
            i += 1
            var pairs: [(String, JSONValue)] = []
            if consume(UInt8(ascii: "}")) { return .object(pairs) }
            while true {
                skipSpace()
                guard let key = readString() else { throw JSONError(offset: i, reason: "expected a string key") }
                guard consume(UInt8(ascii: ":")) else { throw JSONError(offset: i, reason: "expected ':'") }
                let v = try parseValue(depth: depth + 1)
                pairs.append((key, v))
                if consume(UInt8(ascii: ",")) { continue }
                if consume(UInt8(ascii: "}")) { return .object(pairs) }
                throw JSONError(offset: i, reason: "expected ',' or '}'")
            }
        case UInt8(ascii: "["):
            i += 1
            var items: [JSONValue] = []
            if consume(UInt8(ascii: "]")) { return .array(items) }
            while true {
                items.append(try parseValue(depth: depth + 1))
                if consume(UInt8(ascii: ",")) { continue }
                if consume(UInt8(ascii: "]")) { return .array(items) }
                throw JSONError(offset: i, reason: "expected ',' or ']'")
            }
        case UInt8(ascii: "\""):
            guard let s = readString() else { throw JSONError(offset: i, reason: "bad string") }
            return .string(s)
        case UInt8(ascii: "t"):
            if matchWord("true") { return .bool(true) }
        case UInt8(ascii: "f"):
            if matchWord("false") { return .bool(false) }
        case UInt8(ascii: "n"):
            if matchWord("null") { return .null }
        default:
            if let d = readNumber() { return .number(d) }
        }
        throw JSONError(offset: i, reason: "unexpected character")
    }

    @inline(__always) mutating func matchWord(_ w: StaticString) -> Bool {
        let n = w.utf8CodeUnitCount
        guard end - i >= n else { return false }
        let p = w.utf8Start
        for k in 0..<n where base[i + k] != p[k] { return false }
        i += n
        return true
    }

    /// Skips one value of any kind without building it. Returns false on malformed input.
    mutating func skipValue(depth: Int = 0) -> Bool {
        guard depth < JSONParser.maxDepth else { return false }
        skipSpace()
        guard i < end else { return false }
        switch base[i] {
        case UInt8(ascii: "\""):
            return skipString()
        case UInt8(ascii: "{"):
            i += 1
            if consume(UInt8(ascii: "}")) { return true }
            while true {
                skipSpace()
                guard peek() == UInt8(ascii: "\""), skipString() else { return false }
                guard consume(UInt8(ascii: ":")), skipValue(depth: depth + 1) else { return false }
                if consume(UInt8(ascii: ",")) { continue }
                return consume(UInt8(ascii: "}"))
            }
        case UInt8(ascii: "["):
            i += 1
            if consume(UInt8(ascii: "]")) { return true }
            while true {
                guard skipValue(depth: depth + 1) else { return false }
                if consume(UInt8(ascii: ",")) { continue }
                return consume(UInt8(ascii: "]"))
            }
        case UInt8(ascii: "t"): return matchWord("true")
        case UInt8(ascii: "f"): return matchWord("false")
        case UInt8(ascii: "n"): return matchWord("null")
        default: return readNumber() != nil
        }
    }

    /// Skips a string starting at the opening quote.
    @inline(__always) mutating func skipString() -> Bool {
        guard i < end, base[i] == UInt8(ascii: "\"") else { return false }
        i += 1
        while i < end {
            let b = base[i]
            if b == UInt8(ascii: "\"") { i += 1; return true }
            if b == UInt8(ascii: "\\") { i += 2; continue }
            if b < 0x20 { return false }
            i += 1
        }
        return false
    }

    /// Reads a string key without escapes as a raw byte range; nil if it has escapes or is malformed.
    @inline(__always) mutating func readRawString() -> (start: Int, count: Int)? {
        guard i < end, base[i] == UInt8(ascii: "\"") else { return nil }
        let start = i + 1
        var j = start
        while j < end {
            let b = base[j]
            if b == UInt8(ascii: "\"") { i = j + 1; return (start, j - start) }
            if b == UInt8(ascii: "\\") || b < 0x20 { return nil }
            j += 1
        }
        return nil
    }

    /// Reads a string at the cursor, decoding escapes. Invalid UTF-8 is repaired, not rejected.
    mutating func readString() -> String? {
        let save = i
        if let raw = readRawString() {
            return String(decoding: UnsafeBufferPointer(start: base + raw.start, count: raw.count), as: UTF8.self)
        }
        i = save
        guard i < end, base[i] == UInt8(ascii: "\"") else { return nil }
        i += 1
        var out: [UInt8] = []
        while i < end {
            let b = base[i]
            if b == UInt8(ascii: "\"") {
                i += 1
                return String(decoding: out, as: UTF8.self)
            }
            if b < 0x20 { return nil }
            if b != UInt8(ascii: "\\") { out.append(b); i += 1; continue }
            i += 1
            guard i < end else { return nil }
            let e = base[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                guard var cp = readHex4() else { return nil }
                if (0xD800..<0xDC00).contains(cp), end - i >= 6, base[i] == 0x5C, base[i + 1] == UInt8(ascii: "u") {
                    let save2 = i
                    i += 2
                    if let lo = readHex4(), (0xDC00..<0xE000).contains(lo) {
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
                    } else {
                        i = save2
                    }
                }
                let scalar = Unicode.Scalar(cp) ?? "\u{FFFD}"
                out.append(contentsOf: Array(String(Character(scalar)).utf8))
            default: return nil
            }
        }
        return nil
    }

    private mutating func readHex4() -> UInt32? {
        guard end - i >= 4 else { return nil }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let b = base[i]
            let d: UInt32
            switch b {
            case 0x30...0x39: d = UInt32(b - 0x30)
            case 0x41...0x46: d = UInt32(b - 0x41 + 10)
            case 0x61...0x66: d = UInt32(b - 0x61 + 10)
            default: return nil
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }

    /// Reads a JSON number, or Python's `NaN`, `Infinity`, `-Infinity`.
    /// Always correctly rounded. Common numbers (up to 19 significant digits, small exponents) are
    /// computed directly; anything else goes through the standard library.
    @inline(__always) mutating func readNumber() -> Double? {
        let start = i
        var neg = false
        if i < end && base[i] == UInt8(ascii: "-") { neg = true; i += 1 }
        guard i < end else { i = start; return nil }
        let first = base[i]
        if first == UInt8(ascii: "N") {
            if !neg, matchWord("NaN") { return .nan }
            i = start; return nil
        }
        if first == UInt8(ascii: "I") {
            if matchWord("Infinity") { return neg ? -.infinity : .infinity }
            i = start; return nil
        }
        var mantissa: UInt64 = 0
        var digits = 0
        var dropped = false   // significant digits beyond the 19 the mantissa holds
        var exp10 = 0
        let intStart = i
        while i < end {
            let d = base[i] &- 0x30
            if d > 9 { break }
            if digits < 19 { mantissa = mantissa &* 10 &+ UInt64(d); if mantissa != 0 { digits += 1 } } else { exp10 += 1; dropped = dropped || d != 0 }
            i += 1
        }
        if i == intStart { i = start; return nil }
        if base[intStart] == UInt8(ascii: "0") && i - intStart > 1 { i = start; return nil }
        if i < end && base[i] == UInt8(ascii: ".") {
            i += 1
            let fracStart = i
            // Eight digits at a time while they fit in the mantissa (the SWAR trick of fast_float).
            while digits + 8 <= 19 && end - i >= 8 {
                let chunk = UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self).littleEndian
                guard Self.isEightDigits(chunk) else { break }
                let eight = Self.eightDigitsValue(chunk)
                if mantissa == 0 && eight == 0 {
                    // Leading zeros: they only move the decimal point.
                } else {
                    mantissa = mantissa &* 100_000_000 &+ eight
                    digits += mantissa == eight ? Self.significantDigits(eight) : 8
                }
                exp10 -= 8
                i += 8
            }
            while i < end {
                let d = base[i] &- 0x30
                if d > 9 { break }
                if digits < 19 { mantissa = mantissa &* 10 &+ UInt64(d); exp10 -= 1; if mantissa != 0 { digits += 1 } } else { dropped = dropped || d != 0 }
                i += 1
            }
            if i == fracStart { i = start; return nil }
        }
        if i < end && (base[i] | 0x20) == UInt8(ascii: "e") {
            i += 1
            var eneg = false
            if i < end && (base[i] == UInt8(ascii: "-") || base[i] == UInt8(ascii: "+")) { eneg = base[i] == UInt8(ascii: "-"); i += 1 }
            let eStart = i
            var e = 0
            while i < end {
                let d = base[i] &- 0x30
                if d > 9 { break }
                if e < 100_000 { e = e * 10 + Int(d) }
                i += 1
            }
            if i == eStart { i = start; return nil }
            exp10 += eneg ? -e : e
        }
        if mantissa == 0 { return neg ? -0.0 : 0.0 }
        // Exact and correctly rounded: both operands are exact doubles, one IEEE operation (Clinger).
        if !dropped && mantissa <= 1 << 53 && exp10 >= -22 && exp10 <= 22 {
            var v = Double(mantissa)
            if exp10 < 0 { v /= pow10Table[-exp10] } else { v *= pow10Table[exp10] }
            return neg ? -v : v
        }
        #if arch(x86_64) || arch(i386)
        // Python writes 17 significant digits: one rounding in 64-bit precision, then to 53 bits.
        // That second rounding is wrong only when the first lands exactly on a midpoint; those
        // rare values take the slow path, so the result is always correctly rounded.
        if !dropped && exp10 >= -27 && exp10 <= 27 {
            let m = Float80(mantissa)
            let r = exp10 < 0 ? m / pow10Extended[-exp10] : m * pow10Extended[exp10]
            if r.significandBitPattern & 0x7FF != 0x400 {
                let v = Double(r)
                return neg ? -v : v
            }
        }
        #endif
        return slowNumber(start: start, count: i - start)
    }

    @inline(__always) static func isEightDigits(_ v: UInt64) -> Bool {
        ((v & 0xF0F0_F0F0_F0F0_F0F0) | (((v &+ 0x0606_0606_0606_0606) & 0xF0F0_F0F0_F0F0_F0F0) >> 4)) == 0x3333_3333_3333_3333
    }

    /// The value of eight ASCII digits loaded little-endian (first digit in the low byte).
    @inline(__always) static func eightDigitsValue(_ chunk: UInt64) -> UInt64 {
        var v = chunk &- 0x3030_3030_3030_3030
        v = (v &* 10) &+ (v >> 8)
        v = (((v & 0x0000_00FF_0000_00FF) &* 0x000F_4240_0000_0064)
            &+ (((v >> 16) & 0x0000_00FF_0000_00FF) &* 0x0000_2710_0000_0001)) >> 32
        return v & 0xFFFF_FFFF
    }

    @inline(__always) static func significantDigits(_ v: UInt64) -> Int {
        var n = 0
        var x = v
        while x > 0 { n += 1; x /= 10 }
        return n
    }

    private func slowNumber(start: Int, count: Int) -> Double? {
        let s = String(decoding: UnsafeBufferPointer(start: base + start, count: count), as: UTF8.self)
        return Double(s)
    }
}

private let pow10Table: [Double] = (0...22).map { (k: Int) -> Double in
    var v = 1.0
    for _ in 0..<k { v *= 10 }
    return v
}

#if arch(x86_64) || arch(i386)
/// 10^0 … 10^27, all exact in 64-bit precision (5^27 < 2^64).
private let pow10Extended: [Float80] = (0...27).map { (k: Int) -> Float80 in
    var v: Float80 = 1
    for _ in 0..<k { v *= 10 }
    return v
}
#endif

extension Double {
    /// The value as an `Int` when it is a whole number of sensible size (|x| < 10^15); logs are
    /// hostile, and converting 1e300 to Int would trap.
    public var wholeInt: Int? {
        guard isFinite, self == rounded(.towardZero), abs(self) < 1e15 else { return nil }
        return Int(self)
    }
}
