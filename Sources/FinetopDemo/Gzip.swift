/// Why a gzip file could not be decompressed.
public struct GzipError: Error, Sendable, Equatable, CustomStringConvertible {
    public let problem: String
    public init(_ problem: String) { self.problem = problem }
    public var description: String { problem }
}

/// Decompresses a gzip file (RFC 1952) holding DEFLATE data (RFC 1951), so the demo reads the
/// data it ships without linking zlib. Follows zlib's `puff.c`: small and clear rather than fast,
/// which is plenty for 57 KB read once at start-up.
public enum Gzip {
    public static func decompress(_ bytes: [UInt8]) throws(GzipError) -> [UInt8] {
        var input = BitReader(bytes: bytes)
        try skipHeader(&input)
        var inflater = Inflater(input: input)
        try inflater.inflate()
        let output = inflater.output
        try checkTrailer(&inflater.input, output: output)
        return output
    }

    private static func skipHeader(_ r: inout BitReader) throws(GzipError) {
        guard try r.byte() == 0x1F, try r.byte() == 0x8B else { throw GzipError("not a gzip file") }
        guard try r.byte() == 8 else { throw GzipError("gzip file does not use DEFLATE") }
        let flags = try r.byte()
        for _ in 0..<6 { _ = try r.byte() }  // mtime, extra flags, OS
        if flags & 0x04 != 0 {
            let length = try r.littleEndian(bytes: 2)
            for _ in 0..<length { _ = try r.byte() }
        }
        if flags & 0x08 != 0 { try r.skipZeroTerminated() }  // file name
        if flags & 0x10 != 0 { try r.skipZeroTerminated() }  // comment
        if flags & 0x02 != 0 { _ = try r.littleEndian(bytes: 2) }  // header CRC
    }

    private static func checkTrailer(_ r: inout BitReader, output: [UInt8]) throws(GzipError) {
        r.alignToByte()
        let crc = try r.littleEndian(bytes: 4)
        let size = try r.littleEndian(bytes: 4)
        guard UInt32(truncatingIfNeeded: crc) == CRC32.checksum(output) else { throw GzipError("CRC mismatch") }
        guard size == output.count & 0xFFFF_FFFF else { throw GzipError("length mismatch") }
    }
}

/// Reads DEFLATE's least-significant-bit-first bit stream.
struct BitReader {
    let bytes: [UInt8]
    var position = 0
    var buffer: UInt32 = 0
    var count: UInt32 = 0

    /// The next `n` bits (at most 16), first bit lowest.
    mutating func bits(_ n: Int) throws(GzipError) -> Int {
        var value = buffer
        while count < UInt32(n) {
            guard position < bytes.count else { throw GzipError("file is truncated") }
            value |= UInt32(bytes[position]) << count
            position += 1
            count += 8
        }
        buffer = value >> UInt32(n)
        count -= UInt32(n)
        return Int(value & ((1 << UInt32(n)) - 1))
    }

    mutating func alignToByte() {
        buffer = 0
        count = 0
    }

    mutating func byte() throws(GzipError) -> UInt8 { UInt8(try bits(8)) }

    mutating func littleEndian(bytes n: Int) throws(GzipError) -> Int {
        var value = 0
        for k in 0..<n { value |= try bits(8) << (8 * k) }
        return value
    }

    mutating func skipZeroTerminated() throws(GzipError) {
        while try byte() != 0 {}
    }
}

/// A canonical Huffman code as DEFLATE defines it: how many codes of each length, and the
/// symbols ordered by code.
struct HuffmanCode {
    var counts = [Int](repeating: 0, count: 16)
    var symbols: [Int]
    /// Negative: over-subscribed; positive: incomplete; zero: complete.
    var unused = 0

    init(lengths: ArraySlice<Int>) {
        symbols = [Int](repeating: 0, count: lengths.count)
        for length in lengths { counts[length] += 1 }
        if counts[0] == lengths.count { return }
        var left = 1
        for length in 1...15 {
            left = (left << 1) - counts[length]
            if left < 0 {
                unused = left
                return
            }
        }
        unused = left
        var offsets = [Int](repeating: 0, count: 16)
        for length in 1..<15 { offsets[length + 1] = offsets[length] + counts[length] }
        for (symbol, length) in lengths.enumerated() where length != 0 {
            symbols[offsets[length]] = symbol
            offsets[length] += 1
        }
    }
}

/// Decodes the DEFLATE blocks: stored, fixed Huffman and dynamic Huffman.
struct Inflater {
    var input: BitReader
    var output: [UInt8] = []

    private static let lengthBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59,
                                     67, 83, 99, 115, 131, 163, 195, 227, 258]
    private static let lengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4,
                                      5, 5, 5, 5, 0]
    private static let distanceBase = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385,
                                       513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]
    private static let distanceExtra = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10,
                                        10, 11, 11, 12, 12, 13, 13]
    private static let codeLengthOrder = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]

    init(input: BitReader) { self.input = input }

    mutating func inflate() throws(GzipError) {
        var last = false
        while !last {
            last = try input.bits(1) == 1
            switch try input.bits(2) {
            case 0: try stored()
            case 1: try fixed()
            case 2: try dynamic()
            default: throw GzipError("invalid block type")
            }
        }
    }

    private mutating func stored() throws(GzipError) {
        input.alignToByte()
        let length = try input.littleEndian(bytes: 2)
        let complement = try input.littleEndian(bytes: 2)
        guard length == ~complement & 0xFFFF else { throw GzipError("stored block length is corrupt") }
        for _ in 0..<length { output.append(try input.byte()) }
    }

    private mutating func fixed() throws(GzipError) {
        var lengths = [Int](repeating: 8, count: 288)
        for s in 144..<256 { lengths[s] = 9 }
        for s in 256..<280 { lengths[s] = 7 }
        let literals = HuffmanCode(lengths: lengths[...])
        let distances = HuffmanCode(lengths: [Int](repeating: 5, count: 30)[...])
        try codes(literals, distances)
    }

    private mutating func dynamic() throws(GzipError) {
        let literalCount = try input.bits(5) + 257
        let distanceCount = try input.bits(5) + 1
        let codeLengthCount = try input.bits(4) + 4
        guard literalCount <= 286, distanceCount <= 30 else { throw GzipError("too many Huffman codes") }
        var lengths = [Int](repeating: 0, count: 19)
        for k in 0..<codeLengthCount { lengths[Self.codeLengthOrder[k]] = try input.bits(3) }
        let lengthCode = HuffmanCode(lengths: lengths[...])
        guard lengthCode.unused == 0 else { throw GzipError("incomplete code-length code") }
        lengths = try readLengths(count: literalCount + distanceCount, with: lengthCode)
        guard lengths[256] != 0 else { throw GzipError("no end-of-block code") }
        let literals = HuffmanCode(lengths: lengths[0..<literalCount])
        let distances = HuffmanCode(lengths: lengths[literalCount...])
        guard Self.usable(literals, count: literalCount), Self.usable(distances, count: distanceCount) else {
            throw GzipError("invalid Huffman code lengths")
        }
        try codes(literals, distances)
    }

    /// Incomplete codes are only allowed for a single length-1 code (RFC 1951, as puff checks it).
    private static func usable(_ code: HuffmanCode, count: Int) -> Bool {
        code.unused == 0 || (code.unused > 0 && count - code.counts[0] == 1)
    }

    private mutating func readLengths(count: Int, with code: HuffmanCode) throws(GzipError) -> [Int] {
        var lengths: [Int] = []
        lengths.reserveCapacity(count)
        while lengths.count < count {
            let symbol = try decode(code)
            if symbol < 16 {
                lengths.append(symbol)
                continue
            }
            var repeated = 0
            let times: Int
            switch symbol {
            case 16:
                guard let previous = lengths.last else { throw GzipError("repeat with no previous length") }
                repeated = previous
                times = 3 + (try input.bits(2))
            case 17: times = 3 + (try input.bits(3))
            default: times = 11 + (try input.bits(7))
            }
            guard lengths.count + times <= count else { throw GzipError("too many code lengths") }
            lengths.append(contentsOf: repeatElement(repeated, count: times))
        }
        return lengths
    }

    private mutating func decode(_ h: HuffmanCode) throws(GzipError) -> Int {
        var code = 0
        var first = 0
        var index = 0
        for length in 1...15 {
            code |= try input.bits(1)
            let count = h.counts[length]
            if code - count < first { return h.symbols[index + (code - first)] }
            index += count
            first = (first + count) << 1
            code <<= 1
        }
        throw GzipError("invalid Huffman code")
    }

    private mutating func codes(_ literals: HuffmanCode, _ distances: HuffmanCode) throws(GzipError) {
        while true {
            let symbol = try decode(literals)
            if symbol < 256 {
                output.append(UInt8(symbol))
                continue
            }
            if symbol == 256 { return }
            let lengthSymbol = symbol - 257
            guard lengthSymbol < 29 else { throw GzipError("invalid length symbol") }
            let length = Self.lengthBase[lengthSymbol] + (try input.bits(Self.lengthExtra[lengthSymbol]))
            let distanceSymbol = try decode(distances)
            guard distanceSymbol < 30 else { throw GzipError("invalid distance symbol") }
            let distance = Self.distanceBase[distanceSymbol] + (try input.bits(Self.distanceExtra[distanceSymbol]))
            guard distance <= output.count else { throw GzipError("distance reaches before the start") }
            for _ in 0..<length { output.append(output[output.count - distance]) }
        }
    }
}

/// The CRC-32 that gzip's trailer carries (IEEE polynomial, reflected).
enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }
}
