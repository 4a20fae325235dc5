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
        // As every line-based format (CSV files, printed logs), and as a notebook.
        let text = String(decoding: bytes, as: UTF8.self)
        lines(text, KerasCSVLog.Parser.self)
        lines(text, PandasHistoryCSVLog.Parser.self)
        lines(text, FastaiCSVLog.Parser.self)
        lines(text, UltralyticsCSVLog.Parser.self)
        lines(text, LightningCSVLog.Parser.self)
        lines(text, PrintedLog.Parser.self)
        if case .success(let value) = JSONParser.parse(bytes) {
            _ = try? NotebookLog.read(value, path: "fuzz", options: ReadOptions())
        }
        _ = NotebookLog.progressTable(text)
        let sample = LogSample(name: "fuzz", head: Array(bytes)[...], isWholeFile: true)
        for format in LogFormats.all { _ = format.recognizes(sample) }
        _ = DisplayText.neutralize(text)
        tensorBoard(UnsafeRawBufferPointer(bytes))
    }

    /// Feeds `text` to a line parser split at `\n` and `\r` as `LineFollower` splits it.
    static func lines<P: LineParser>(_ text: String, _ type: P.Type) {
        var parser = P(format: LogFormat(name: "fuzz"), options: ReadOptions(run: 1))
        var start = text.startIndex
        var i = text.startIndex
        while i < text.endIndex {
            let ch = text[i]
            if ch == "\n" || ch == "\r" || ch == "\r\n" {
                parser.consume(text[start..<i], end: ch == "\r" ? .carriageReturn : .newline)
                start = text.index(after: i)
            }
            i = text.index(after: i)
        }
        parser.consume(text[start...], end: .newline)
        _ = parser.run.metricNames
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
