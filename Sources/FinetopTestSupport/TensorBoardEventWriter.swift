/// Writes TensorBoard event files the way PyTorch's SummaryWriter does (a `simple_value` scalar
/// per event, TFRecord framing); used by the benchmark, the fuzzer and tests that need large logs.
///
/// It encodes the protobuf wire format and the framing's checksums itself, independently of the
/// reader's generated code, so a test that reads what it writes checks the reader against the
/// format rather than against itself.
public struct TensorBoardEventWriter {
    private var buffer: [UInt8] = []
    public init() {}

    /// The file's first event: `file_version` "brain.Event:2".
    public mutating func fileVersion(wallTime: Double) {
        var event: [UInt8] = []
        Protobuf.double(1, wallTime, into: &event)
        Protobuf.bytes(3, Array("brain.Event:2".utf8), into: &event)
        buffer += Self.frame(event)
    }

    /// One scalar at one step.
    public mutating func scalar(tag: String, step: Int64, value: Float, wallTime: Double) {
        var summaryValue: [UInt8] = []
        Protobuf.bytes(1, Array(tag.utf8), into: &summaryValue)       // Summary.Value.tag
        Protobuf.float(2, value, into: &summaryValue)                 // Summary.Value.simple_value
        var summary: [UInt8] = []
        Protobuf.bytes(1, summaryValue, into: &summary)               // Summary.value (repeated)
        var event: [UInt8] = []
        Protobuf.double(1, wallTime, into: &event)                    // Event.wall_time
        Protobuf.varint(2, UInt64(bitPattern: step), into: &event)    // Event.step
        Protobuf.bytes(5, summary, into: &event)                      // Event.summary
        buffer += Self.frame(event)
    }

    /// The framed bytes written so far, handed over and forgotten.
    public mutating func take() -> [UInt8] {
        defer { buffer.removeAll(keepingCapacity: true) }
        return buffer
    }

    /// One TFRecord: `u64 length (LE) · u32 masked CRC32C of the length · data · u32 masked
    /// CRC32C of the data`.
    public static func frame(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(data.count + 16)
        withUnsafeBytes(of: UInt64(data.count).littleEndian) { out.append(contentsOf: $0) }
        let lengthCRC = CRC32C.masked(out)
        withUnsafeBytes(of: lengthCRC.littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: data)
        withUnsafeBytes(of: CRC32C.masked(data).littleEndian) { out.append(contentsOf: $0) }
        return out
    }
}

/// The few protobuf wire-format encodings an `Event` needs.
enum Protobuf {
    static func key(_ field: UInt64, _ wireType: UInt64, into out: inout [UInt8]) {
        rawVarint(field << 3 | wireType, into: &out)
    }
    static func rawVarint(_ value: UInt64, into out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }
    static func varint(_ field: UInt64, _ value: UInt64, into out: inout [UInt8]) {
        key(field, 0, into: &out)
        rawVarint(value, into: &out)
    }
    static func double(_ field: UInt64, _ value: Double, into out: inout [UInt8]) {
        key(field, 1, into: &out)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { out.append(contentsOf: $0) }
    }
    static func float(_ field: UInt64, _ value: Float, into out: inout [UInt8]) {
        key(field, 5, into: &out)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { out.append(contentsOf: $0) }
    }
    static func bytes(_ field: UInt64, _ value: [UInt8], into out: inout [UInt8]) {
        key(field, 2, into: &out)
        rawVarint(UInt64(value.count), into: &out)
        out.append(contentsOf: value)
    }
}

/// CRC-32C (Castagnoli), masked as TFRecord stores it.
enum CRC32C {
    static let table: [UInt32] = (0..<256).map { (n: Int) -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        return c
    }

    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }

    static func masked(_ bytes: [UInt8]) -> UInt32 {
        let c = checksum(bytes)
        return ((c >> 15) | (c << 17)) &+ 0xA282_EAD8
    }
}
