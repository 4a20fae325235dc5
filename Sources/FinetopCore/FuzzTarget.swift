/// Feeds arbitrary bytes through every reader finetop has. The libFuzzer harness in
/// `Tests/Fuzz` calls it, and a test replays the fuzz corpus through it on every run.
enum FuzzTarget {
    static func run(_ bytes: UnsafeBufferPointer<UInt8>) {
        // As events.jsonl lines.
        var builder = RunBuilder()
        if let base = bytes.baseAddress {
            var start = 0
            for k in 0..<bytes.count where base[k] == 0x0A {
                builder.consume(line: UnsafeBufferPointer(start: base + start, count: k - start))
                start = k + 1
            }
            builder.consume(line: UnsafeBufferPointer(start: base + start, count: bytes.count - start))
        }
        _ = builder.snapshot.metricNames
        // As whole JSON documents: History, trainer_state, control.json.
        if case .success(let value) = JSONParser.parse(bytes) {
            _ = try? Importers.kerasHistory(value, path: "fuzz")
            _ = try? Importers.trainerState(value, path: "fuzz")
        }
        _ = try? ControlFile.parse(Array(bytes))
        // As CSV.
        let text = String(decoding: bytes, as: UTF8.self)
        if let table = CSVTable(text: text) {
            _ = try? Importers.kerasCSV(table, path: "fuzz")
            _ = try? Importers.lightningCSV(table, path: "fuzz")
        }
        _ = DisplayText.neutralize(text)
        tensorBoard(UnsafeRawBufferPointer(bytes))
    }

    /// As a TensorBoard event file (framing and CRCs), and as one unframed `Event` record, since
    /// random bytes rarely carry valid checksums.
    static func tensorBoard(_ bytes: UnsafeRawBufferPointer) {
        var scalars = TensorBoardScalars()
        var tags: [String: Int] = [:]
        var i = 0
        scan: while true {
            switch TFRecordFraming.item(in: bytes, at: i) {
            case .record(let data, let next):
                scalars.consume(record: UnsafeRawBufferPointer(rebasing: bytes[data]), run: "", tags: &tags, source: "fuzz")
                i = next
            case .corrupt(let reason, let next):
                scalars.skip(reason)
                i = next
            case .incomplete:
                break scan
            }
        }
        var unframed: [String: Int] = [:]
        scalars.consume(record: bytes, run: "validation", tags: &unframed, source: "fuzz")
        _ = TensorBoardMapping.run(from: scalars).metricNames
    }
}
