#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Turns run-format lines (events.jsonl) into a `Run`. Malformed lines are counted, never fatal.
public struct RunBuilder: Sendable {
    public private(set) var run: Run
    /// Metric names seen in batch lines, by their raw bytes, so the hot path does not allocate.
    /// Batch metric names seen so far: their first 8 bytes packed, their bytes, their column.
    private var metricWords: [UInt64] = []
    private var metricBytes: [[UInt8]] = []
    private var metricColumn: [Int] = []
    private var currentEpoch = 0
    /// A batch line left its epoch or step to be inferred from earlier lines: such a stretch
    /// cannot be parsed apart from what precedes it (see `EventsReader`'s parallel first load).
    private(set) var inferredFromContext = false

    public init(format: LogFormat = .eventsFile) {
        run = Run(format: format)
    }

    /// The run with every metric column aligned; cheap to take as often as the UI wants.
    public var snapshot: Run {
        var r = run
        r.batches.alignMetrics()
        return r
    }

    public mutating func reset() {
        self = RunBuilder(format: run.format)
    }

    /// Feeds one complete line (without its `\n`). Blank lines are ignored.
    public mutating func consume(line: UnsafeBufferPointer<UInt8>) {
        guard let base = line.baseAddress else { return }
        var count = line.count
        if count > 0 && base[count - 1] == 0x0D { count -= 1 }
        var start = 0
        if count >= 3, base[0] == 0xEF, base[1] == 0xBB, base[2] == 0xBF { start = 3 }
        var c = JSONCursor(base: base + start, count: count - start)
        c.skipSpace()
        if c.atEnd { return }
        if let problem = consumeFast(&c) {
            skip(problem)
        }
    }

    public mutating func consume(line: String) {
        var s = line
        s.withUTF8 { consume(line: $0) }
    }

    /// Appends what `later` read from the bytes that follow this builder's, as if this builder
    /// had read them itself. Valid when `later` inferred nothing from context.
    mutating func absorb(_ later: RunBuilder) {
        let b = later.run
        if let info = b.info {
            run.info = info
            run.end = nil   // a restarted job, as takeRun does
        }
        if let end = b.end { run.end = end }
        run.layerStats.append(contentsOf: b.layerStats, model: run.model)
        if let model = b.model { run.model = model }
        run.acks.append(contentsOf: b.acks)
        for record in b.epochs { addEpoch(record) }
        run.batches.append(contentsOf: b.batches)
        run.skippedLines += b.skippedLines
        if b.lastSkipReason != nil { run.lastSkipReason = b.lastSkipReason }
    }

    mutating func reserveBatches(_ n: Int) {
        run.batches.reserveCapacity(n)
    }

    mutating func appendBatchPoint(epoch: Int, step: Int, loss: Double) {
        run.batches.append(epoch: epoch, step: step, loss: loss)
    }

    /// Sets run metadata (importers know some of it from outside the lines).
    mutating func setInfo(_ info: RunInfo?) { run.info = info }

    mutating func skip(_ reason: String) {
        run.skippedLines += 1
        run.lastSkipReason = reason
    }

    // MARK: - The fast path: one pass over the top-level object

    private enum Kind { case run, model, batch, epoch, control, end, layerStats, unknown, missing }

    /// Returns why the line was skipped, or nil when it was taken (or ignored as an unknown type).
    private mutating func consumeFast(_ c: inout JSONCursor) -> String? {
        guard c.consume(UInt8(ascii: "{")) else { return "not a JSON object" }
        var kind = Kind.missing
        var epoch: Double?, step: Double?, loss: Double?, valLoss: Double?, time: Double?
        var lossIsNull = false
        var metricsAt = -1
        var badField: String?
        if !c.consume(UInt8(ascii: "}")) {
            while true {
                c.skipSpace()
                guard let key = c.readRawString() else { return slowPath(&c) }
                guard c.consume(UInt8(ascii: ":")) else { return "not valid JSON" }
                c.skipSpace()
                let k = key.count <= 8 ? Packed.word(c.base + key.start, key.count) : 0
                switch k {
                case Packed.type:
                    guard let v = c.readRawString() else { return c.skipValue() ? "\"type\" is not a string" : "not valid JSON" }
                    kind = v.count <= 8 ? Self.kind(Packed.word(c.base + v.start, v.count))
                        : Packed.isLayerStats(c.base + v.start, v.count) ? .layerStats : .unknown
                case Packed.epoch:
                    guard readOptionalNumber(&c, into: &epoch) else { badField = badField ?? "epoch"; break }
                case Packed.step:
                    guard readOptionalNumber(&c, into: &step) else { badField = badField ?? "step"; break }
                case Packed.loss:
                    if c.matchWord("null") { lossIsNull = true; break }
                    guard readOptionalNumber(&c, into: &loss) else { badField = badField ?? "loss"; break }
                case Packed.valLoss:
                    guard readOptionalNumber(&c, into: &valLoss) else { badField = badField ?? "val_loss"; break }
                case Packed.time:
                    guard readOptionalNumber(&c, into: &time) else { badField = badField ?? "time"; break }
                case Packed.metrics:
                    metricsAt = c.i
                    guard c.skipValue() else { return "not valid JSON" }
                default:
                    guard c.skipValue() else { return "not valid JSON" }
                }
                if c.consume(UInt8(ascii: ",")) { continue }
                if c.consume(UInt8(ascii: "}")) { break }
                return "not valid JSON"
            }
        }
        c.skipSpace()
        guard c.atEnd else { return "text after the JSON object" }

        switch kind {
        case .batch:
            if let f = badField { return "batch line: \"\(f)\" is not a number" }
            guard loss != nil || lossIsNull else { return "batch line without \"loss\"" }
            let e = epoch.flatMap(Self.wholeNumber) ?? currentEpoch
            let previous = run.batches.steps.last.map { Int($0) } ?? -1
            let s = step.flatMap(Self.wholeNumber) ?? previous + 1
            if epoch?.wholeInt == nil || step?.wholeInt == nil { inferredFromContext = true }
            run.batches.append(epoch: e, step: s, loss: loss ?? .nan)
            if metricsAt >= 0 { readBatchMetrics(&c, at: metricsAt) }
            return nil
        case .epoch:
            if let f = badField { return "epoch line: \"\(f)\" is not a number" }
            guard let e = epoch.flatMap(Self.wholeNumber), e >= 0 else { return "epoch line without a whole \"epoch\" number" }
            var values: [String: Double] = [:]
            if metricsAt >= 0 {
                var m = c
                m.i = metricsAt
                if !readEpochMetrics(&m, into: &values) { return "epoch line: \"metrics\" is not an object" }
            }
            if let loss { values["loss"] = loss } else if lossIsNull { values["loss"] = .nan }
            if let valLoss { values["val_loss"] = valLoss }
            addEpoch(EpochRecord(epoch: e, step: step.flatMap(Self.wholeNumber), values: values, time: time))
            return nil
        case .run, .model, .control, .end, .layerStats:
            return slowPath(&c)
        case .unknown:
            return nil
        case .missing:
            return "no \"type\" field"
        }
    }

    private static func kind(_ word: UInt64) -> Kind {
        switch word {
        case Packed.batch: return .batch
        case Packed.epoch: return .epoch
        case Packed.run: return .run
        case Packed.model: return .model
        case Packed.control: return .control
        case Packed.end: return .end
        default: return .unknown
        }
    }

    private static func wholeNumber(_ d: Double) -> Int? { d.wholeInt }

    /// A number, `null` (left nil), or false for a value of another type (which is skipped).
    @inline(__always) private func readOptionalNumber(_ c: inout JSONCursor, into slot: inout Double?) -> Bool {
        if let d = c.readNumber() { slot = d; return true }
        if c.matchWord("null") { return true }
        _ = c.skipValue()
        return false
    }

    private mutating func readBatchMetrics(_ outer: inout JSONCursor, at offset: Int) {
        var c = outer
        c.i = offset
        guard c.consume(UInt8(ascii: "{")) else { return }
        if c.consume(UInt8(ascii: "}")) { return }
        while true {
            c.skipSpace()
            let column: Int?
            if let raw = c.readRawString() {
                column = batchMetricColumn(UnsafeBufferPointer(start: c.base + raw.start, count: raw.count))
            } else if let s = c.readString() {
                column = s == "loss" ? nil : run.batches.metricIndex(s)
            } else { return }
            guard c.consume(UInt8(ascii: ":")) else { return }
            c.skipSpace()
            if let v = c.readNumber() {
                if let column { run.batches.setMetric(at: column, v) }
            } else if !c.skipValue() { return }
            if c.consume(UInt8(ascii: ",")) { continue }
            return
        }
    }

    /// The batch column for a metric name given as raw bytes; allocates only the first time.
    private mutating func batchMetricColumn(_ bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        guard let base = bytes.baseAddress else { return nil }
        let w = Packed.word(base, min(bytes.count, 8))
        for i in metricWords.indices where metricWords[i] == w && metricBytes[i].count == bytes.count {
            if bytes.count <= 8 || metricBytes[i].withUnsafeBufferPointer({ $0.baseAddress.map { memcmp($0, base, bytes.count) == 0 } ?? false }) {
                return metricColumn[i]
            }
        }
        let name = String(decoding: bytes, as: UTF8.self)
        if name == "loss" { return nil }
        let column = run.batches.metricIndex(name)
        if metricWords.count < 256 {
            metricWords.append(w)
            metricBytes.append(Array(bytes))
            metricColumn.append(column)
        }
        return column
    }

    private func readEpochMetrics(_ c: inout JSONCursor, into values: inout [String: Double]) -> Bool {
        if c.matchWord("null") { return true }
        guard c.consume(UInt8(ascii: "{")) else { return false }
        if c.consume(UInt8(ascii: "}")) { return true }
        while true {
            c.skipSpace()
            guard let name = c.readString(), c.consume(UInt8(ascii: ":")) else { return false }
            c.skipSpace()
            if let v = c.readNumber() { values[name] = v } else if !c.skipValue() { return false }
            if c.consume(UInt8(ascii: ",")) { continue }
            return c.consume(UInt8(ascii: "}"))
        }
    }

    /// An epoch that is not after the last one means the job resumed from an earlier point:
    /// what came after that point is replaced, as TensorBoard does with orphaned steps.
    public mutating func addEpoch(_ record: EpochRecord) {
        if let last = run.epochs.last, record.epoch <= last.epoch {
            run.epochs.removeAll { $0.epoch >= record.epoch }
        }
        run.epochs.append(record)
        currentEpoch = record.epoch + 1
    }

    // MARK: - The general path: rare line types, escaped keys

    private mutating func slowPath(_ c: inout JSONCursor) -> String? {
        c.i = 0
        let value: JSONValue
        do throws(JSONError) {
            value = try c.parseValue(depth: 0)
        } catch {
            return "not valid JSON (\(error.reason))"
        }
        c.skipSpace()
        guard c.atEnd else { return "text after the JSON object" }
        guard case .object = value else { return "not a JSON object" }
        guard let type = value["type"] else { return "no \"type\" field" }
        guard let t = type.string else { return "\"type\" is not a string" }
        switch t {
        case "run": return takeRun(value)
        case "model": return takeModel(value)
        case "control": return takeControl(value)
        case "layer_stats": return run.layerStats.record(value, model: run.model)
        case "end":
            guard let reason = value["reason"]?.string else { return "end line without a \"reason\" string" }
            run.end = RunEnd(reason: reason, message: value["message"]?.string)
            return nil
        case "batch", "epoch":
            // Same line, but with an escaped key: rebuild it without escapes is not worth it;
            // decode from the tree instead.
            return takeSeriesLine(t, value)
        default:
            return nil
        }
    }

    private mutating func takeSeriesLine(_ type: String, _ v: JSONValue) -> String? {
        var values: [String: Double] = [:]
        for (k, m) in v["metrics"]?.objectPairs ?? [] { if let d = m.double { values[k] = d } }
        if type == "batch" {
            guard let loss = v["loss"]?.double else { return "batch line without a numeric \"loss\"" }
            let e = v["epoch"]?.int ?? currentEpoch
            let s = v["step"]?.int ?? (run.batches.steps.last.map { Int($0) + 1 } ?? 0)
            if v["epoch"]?.int == nil || v["step"]?.int == nil { inferredFromContext = true }
            run.batches.append(epoch: e, step: s, loss: loss)
            for (k, d) in values where k != "loss" { run.batches.setMetric(k, d) }
            return nil
        }
        guard let e = v["epoch"]?.int, e >= 0 else { return "epoch line without a whole \"epoch\" number" }
        if let l = v["loss"]?.double { values["loss"] = l }
        if let l = v["val_loss"]?.double { values["val_loss"] = l }
        addEpoch(EpochRecord(epoch: e, step: v["step"]?.int, values: values, time: v["time"]?.double))
        return nil
    }

    private mutating func takeRun(_ v: JSONValue) -> String? {
        var info = RunInfo()
        info.version = v["version"]?.int ?? 1
        info.framework = v["framework"]?.string ?? "unknown"
        info.frameworkVersion = v["framework_version"]?.string
        info.runID = v["run_id"]?.string
        info.started = v["started"]?.double
        if let t = v["task"], case .object = t {
            info.task = TaskInfo(kind: t["kind"]?.string, numClasses: t["num_classes"]?.int, loss: t["loss"]?.string)
        }
        if let h = v["hparams"]?.objectPairs {
            info.hparams = Self.hparams(h)
        }
        run.info = info
        // A new `run` line in the same file is a restarted job: it has not ended (yet).
        run.end = nil
        return nil
    }

    static func hparams(_ pairs: [(String, JSONValue)]) -> HParams {
        var h = HParams()
        for (k, v) in pairs {
            switch k {
            case "optimizer": h.optimizer = v.string
            case "learning_rate": h.learningRate = v.double
            case "batch_size": h.batchSize = v.int
            case "epochs": h.epochs = v.int
            case "augmentation": h.augmentation = (v.array ?? []).compactMap(\.string)
            case "dropout": h.dropout = (v.array ?? []).compactMap(\.double)
            case "early_stopping":
                if case .object = v {
                    h.earlyStopping = EarlyStoppingInfo(
                        monitor: v["monitor"]?.string ?? "val_loss", patience: v["patience"]?.int ?? 0,
                        minDelta: v["min_delta"]?.double ?? 0,
                        restoreBestWeights: v["restore_best_weights"]?.bool ?? false)
                }
            default: h.extra.append((k, v))
            }
        }
        return h
    }

    private mutating func takeModel(_ v: JSONValue) -> String? {
        guard let revision = v["revision"]?.int else { return "model line without a whole \"revision\"" }
        guard let items = v["layers"]?.array else { return "model line without a \"layers\" list" }
        var layers: [Layer] = []
        layers.reserveCapacity(items.count)
        var names = Set<String>()
        for (n, item) in items.enumerated() {
            guard let name = item["name"]?.string else { return "model line: layer \(n) has no \"name\"" }
            guard names.insert(name).inserted else { return "model line: layer name \"\(name)\" is not unique" }
            let params = item["params"]?.int ?? 0
            let trainableParams = item["trainable_params"]?.int ?? 0
            guard params >= 0, trainableParams >= 0, trainableParams <= params else {
                return "model line: layer \"\(name)\" has impossible param counts"
            }
            // A count outside 0…params is not believable: fall back to the class-name rule.
            let learnable = item["learnable_params"]?.int.flatMap { (0...params).contains($0) ? $0 : nil }
            layers.append(Layer(
                name: name, className: item["class"]?.string ?? "", shape: item["shape"]?.string ?? "",
                params: params, trainableParams: trainableParams,
                trainable: item["trainable"]?.bool ?? (trainableParams > 0),
                depth: max(0, min(item["depth"]?.int ?? 0, 64)),
                learnableParams: learnable, partial: item["partial"]?.bool ?? false,
                statsFrozen: item["stats_frozen"]?.bool ?? false))
        }
        let optimizerParams = v["optimizer_params"]?.int.flatMap { $0 >= 0 ? $0 : nil }
        run.model = LayerTable(revision: revision, layers: layers, optimizerParams: optimizerParams)
        return nil
    }

    private mutating func takeControl(_ v: JSONValue) -> String? {
        guard let revision = v["revision"]?.int else { return "control line without a whole \"revision\"" }
        guard let s = v["status"]?.string, let status = ControlAck.Status(rawValue: s) else {
            return "control line: \"status\" must be \"applied\" or \"rejected\""
        }
        let changed = (v["changed"]?.array ?? []).compactMap(\.string)
        run.acks.append(ControlAck(revision: revision, status: status, changed: changed, message: v["message"]?.string))
        return nil
    }
}

/// Keys and type names of up to 8 bytes packed little-endian into one word, so the hot path
/// compares a key with one integer comparison. (A test checks each constant against its text.)
enum Packed {
    static let type: UInt64 = 0x6570_7974
    static let epoch: UInt64 = 0x68_636f_7065
    static let step: UInt64 = 0x7065_7473
    static let loss: UInt64 = 0x7373_6f6c
    static let valLoss: UInt64 = 0x7373_6f6c_5f6c_6176
    static let time: UInt64 = 0x656d_6974
    static let metrics: UInt64 = 0x73_6369_7274_656d
    static let batch: UInt64 = 0x68_6374_6162
    static let run: UInt64 = 0x6e_7572
    static let model: UInt64 = 0x6c_6564_6f6d
    static let control: UInt64 = 0x6c_6f72_746e_6f63
    static let end: UInt64 = 0x64_6e65

    /// The first `count` (≤ 8) bytes at `p` as a little-endian word; 0 for an empty key.
    @inline(__always) static func word(_ p: UnsafePointer<UInt8>, _ count: Int) -> UInt64 {
        var w: UInt64 = 0
        var k = count - 1
        while k >= 0 {
            w = w << 8 | UInt64(p[k])
            k -= 1
        }
        return w
    }

    /// Whether the `count` bytes at `p` spell `layer_stats` (too long for one word).
    static func isLayerStats(_ p: UnsafePointer<UInt8>, _ count: Int) -> Bool {
        count == 11 && word(p, 8) == word("layer_st") && p[8] == UInt8(ascii: "a") && p[9] == UInt8(ascii: "t")
            && p[10] == UInt8(ascii: "s")
    }

    static func word(_ s: String) -> UInt64 {
        var copy = s
        return copy.withUTF8 { b in b.baseAddress.map { word($0, min(b.count, 8)) } ?? 0 }
    }
}
