import Foundation
import SwiftProtobuf

/// Scalar time series read from TensorBoard event files, keyed by run (the sub-directory of the
/// logdir, "" for the logdir itself) and tag, before they are mapped onto a `Run`.
struct TensorBoardScalars {
    /// One tag's points, steps strictly increasing: a step at or before the last one means the job
    /// restarted from a checkpoint, and the points from that step on are replaced (as TensorBoard
    /// purges orphaned steps).
    struct Series {
        var run: String
        var tag: String
        var steps: [Int64] = []
        var values: [Double] = []
        /// A tag whose first value says it belongs to another plugin (histograms, text, …).
        var ignored = false
        /// For Keras's `epoch_*` tags: the highest step of the run's other tags when each point
        /// arrived, i.e. the epoch's last logged batch (Keras logs epochs against the epoch number).
        var arrivals: [Int64] = []
        /// How many times points already read were replaced (a restart): a run built before is stale.
        var rewrites = 0

        mutating func add(step: Int64, value: Double, arrival: Int64? = nil) {
            if let last = steps.last, step <= last {
                let cut = steps.partitionPoint { $0 < step }
                rewrites += 1
                steps.removeSubrange(cut...)
                values.removeSubrange(cut...)
                if arrivals.count > cut { arrivals.removeSubrange(cut...) }
            }
            steps.append(step)
            values.append(value)
            if let arrival, arrivals.count == steps.count - 1 { arrivals.append(arrival) }
        }
    }

    var series: [Series] = []
    private var index: [String: [String: Int]] = [:]
    /// Weight histograms written with a sum of squares (`add_histogram` in torch and
    /// tensorboardX: a `HistogramProto`): per (run, tag), `values` holds the sum of squares.
    private(set) var histograms: [Series] = []
    private var histogramIndex: [String: [String: Int]] = [:]
    /// Rises with every histogram kept.
    private(set) var histogramRevision = 0
    /// Per run, the highest step seen for tags other than Keras's `epoch_*`.
    private var highestStep: [String: Int64] = [:]
    var skipped = 0
    var lastSkipReason: String?
    /// Rises with every point kept and every record skipped: whether a poll changed anything.
    private(set) var revision = 0

    mutating func skip(_ reason: String) {
        revision += 1
        skipped += 1
        lastSkipReason = reason
    }

    /// The series for a tag of a run, created the first time.
    mutating func seriesIndex(run: String, tag: String) -> Int {
        if let i = index[run]?[tag] { return i }
        series.append(Series(run: run, tag: tag))
        index[run, default: [:]][tag] = series.count - 1
        return series.count - 1
    }

    /// Decodes one record's bytes as an `Event` and keeps its scalars.
    mutating func consume(record bytes: UnsafeRawBufferPointer, run: String, tags: inout [String: Int], source: String) {
        guard let base = bytes.baseAddress else {
            skip("empty record in \(source)")
            return
        }
        let event: Tensorboard_Event
        do {
            let data = Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: base), count: bytes.count, deallocator: .none)
            event = try Tensorboard_Event(serializedBytes: data)
        } catch {
            skip("a record in \(source) is not an Event protobuf")
            return
        }
        guard case .summary(let summary)? = event.what else { return }
        for value in summary.value {
            let i: Int
            if let known = tags[value.tag] {
                i = known
            } else {
                i = seriesIndex(run: run, tag: value.tag)
                tags[value.tag] = i
                // TF2 writes the metadata only with a tag's first value: it decides the tag's kind.
                let plugin = value.metadata.pluginData.pluginName
                if !plugin.isEmpty && plugin != "scalars" { series[i].ignored = true }
            }
            if series[i].ignored { continue }
            guard let v = Self.scalar(value) else {
                if let sumSquares = Self.histogramSumSquares(value) {
                    addHistogram(run: run, tag: value.tag, step: event.step, sumSquares: sumSquares)
                }
                continue
            }
            if value.tag.hasPrefix("epoch_") {
                series[i].add(step: event.step, value: v, arrival: highestStep[run] ?? 0)
            } else {
                series[i].add(step: event.step, value: v)
                if event.step > highestStep[run] ?? 0 { highestStep[run] = event.step }
            }
            revision += 1
        }
    }

    private mutating func addHistogram(run: String, tag: String, step: Int64, sumSquares: Double) {
        let i: Int
        if let known = histogramIndex[run]?[tag] {
            i = known
        } else {
            histograms.append(Series(run: run, tag: tag))
            i = histograms.count - 1
            histogramIndex[run, default: [:]][tag] = i
        }
        histograms[i].add(step: step, value: sumSquares)
        histogramRevision += 1
        revision += 1
    }

    /// The sum of squares of a `HistogramProto` in the value's `histo` field (5), which the
    /// trimmed summary.proto leaves out, so it is read from the unknown fields: `num` (3) and
    /// `sum_squares` (5) are doubles. Nil without one, or for an empty histogram.
    static func histogramSumSquares(_ value: Tensorboard_Summary.Value) -> Double? {
        let bytes = [UInt8](value.unknownFields.data)
        guard !bytes.isEmpty, let histo = ProtoFields.field(5, in: bytes[...]), case .bytes(let h) = histo,
              case .fixed64(let num)? = ProtoFields.field(3, in: h), Double(bitPattern: num) > 0,
              case .fixed64(let squares)? = ProtoFields.field(5, in: h) else { return nil }
        let v = Double(bitPattern: squares)
        return v.isFinite && v >= 0 ? v : nil
    }

    /// The number a summary value holds, when it holds exactly one.
    static func scalar(_ value: Tensorboard_Summary.Value) -> Double? {
        switch value.value {
        case .simpleValue(let f)?: return Double(f)
        case .tensor(let t)?: return scalar(t)
        case .obsoleteOldStyleHistogram?, nil: return nil
        }
    }

    /// A rank-0 (or one-element) numeric tensor's value, from the typed field or `tensor_content`.
    static func scalar(_ t: Tensorboard_TensorProto) -> Double? {
        guard t.tensorShape.dim.allSatisfy({ $0.size == 1 }), !t.tensorShape.unknownRank else { return nil }
        let content = t.tensorContent
        switch t.dtype {
        case .dtFloat:
            if let f = t.floatVal.first { return Double(f) }
            return littleEndian(content, as: UInt32.self).map { Double(Float(bitPattern: $0)) }
        case .dtDouble:
            if let d = t.doubleVal.first { return d }
            return littleEndian(content, as: UInt64.self).map { Double(bitPattern: $0) }
        case .dtHalf:
            if let h = t.halfVal.first { return halfToDouble(UInt16(truncatingIfNeeded: h)) }
            return littleEndian(content, as: UInt16.self).map(halfToDouble)
        case .dtBfloat16:
            if let h = t.halfVal.first { return Double(Float(bitPattern: UInt32(UInt16(truncatingIfNeeded: h)) << 16)) }
            return littleEndian(content, as: UInt16.self).map { Double(Float(bitPattern: UInt32($0) << 16)) }
        case .dtInt32:
            if let i = t.intVal.first { return Double(i) }
            return littleEndian(content, as: UInt32.self).map { Double(Int32(bitPattern: $0)) }
        case .dtInt16:
            if let i = t.intVal.first { return Double(i) }
            return littleEndian(content, as: UInt16.self).map { Double(Int16(bitPattern: $0)) }
        case .dtInt8:
            if let i = t.intVal.first { return Double(i) }
            return content.first.map { Double(Int8(bitPattern: $0)) }
        case .dtUint8:
            if let i = t.intVal.first { return Double(i) }
            return content.first.map { Double($0) }
        case .dtInt64:
            if let i = t.int64Val.first { return Double(i) }
            return littleEndian(content, as: UInt64.self).map { Double(Int64(bitPattern: $0)) }
        case .dtBool:
            if let b = t.boolVal.first { return b ? 1 : 0 }
            return content.first.map { $0 != 0 ? 1 : 0 }
        case .dtInvalid, .dtString, .dtComplex64, .UNRECOGNIZED:
            return nil
        }
    }

    private static func littleEndian<T: FixedWidthInteger>(_ data: Data, as: T.Type) -> T? {
        guard data.count == MemoryLayout<T>.size else { return nil }
        var v: T = 0
        for (k, byte) in data.enumerated() { v |= T(truncatingIfNeeded: byte) << (8 * k) }
        return v
    }

    static func halfToDouble(_ bits: UInt16) -> Double {
        let sign: Double = bits & 0x8000 != 0 ? -1 : 1
        let exponent = Int((bits >> 10) & 0x1F)
        let fraction = Double(bits & 0x3FF)
        switch exponent {
        case 0: return sign * fraction * 0x1p-24
        case 31: return fraction == 0 ? sign * .infinity : .nan
        default: return sign * (1 + fraction / 1024) * Double(sign: .plus, exponent: exponent - 15, significand: 1)
        }
    }
}

extension Array {
    /// The first index whose element fails `belongsBefore` (the array is partitioned by it).
    func partitionPoint(_ belongsBefore: (Element) -> Bool) -> Int {
        var lo = 0, hi = count
        while lo < hi {
            let mid = (lo + hi) / 2
            if belongsBefore(self[mid]) { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}

/// Just enough protobuf wire format to find one field of a message the generated code does not know.
enum ProtoFields {
    enum Value { case varint(UInt64), fixed64(UInt64), bytes(ArraySlice<UInt8>), fixed32(UInt32) }

    /// The last occurrence of field `number` in `message` (as protobuf merges), nil when absent or
    /// when the bytes are not well-formed.
    static func field(_ number: UInt64, in message: ArraySlice<UInt8>) -> Value? {
        var i = message.startIndex
        var found: Value?
        func varint() -> UInt64? {
            var v: UInt64 = 0
            var shift: UInt64 = 0
            while i < message.endIndex, shift < 64 {
                let b = message[i]
                i += 1
                v |= UInt64(b & 0x7F) << shift
                if b < 0x80 { return v }
                shift += 7
            }
            return nil
        }
        func fixed(_ n: Int) -> UInt64? {
            guard message.endIndex - i >= n else { return nil }
            var v: UInt64 = 0
            for k in 0..<n { v |= UInt64(message[i + k]) << (8 * UInt64(k)) }
            i += n
            return v
        }
        while i < message.endIndex {
            guard let key = varint() else { return nil }
            let value: Value
            switch key & 7 {
            case 0:
                guard let v = varint() else { return nil }
                value = .varint(v)
            case 1:
                guard let v = fixed(8) else { return nil }
                value = .fixed64(v)
            case 2:
                guard let n = varint(), n <= UInt64(message.endIndex - i) else { return nil }
                value = .bytes(message[i..<(i + Int(n))])
                i += Int(n)
            case 5:
                guard let v = fixed(4) else { return nil }
                value = .fixed32(UInt32(truncatingIfNeeded: v))
            default:
                return nil
            }
            if key >> 3 == number { found = value }
        }
        return found
    }
}
