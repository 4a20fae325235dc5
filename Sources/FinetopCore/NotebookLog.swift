/// A Jupyter notebook (`.ipynb`) whose cell outputs hold a training log: the printed text of
/// stream outputs (Keras `fit()`, Hugging Face log dicts, Lightning bars) read as `PrintedLog`,
/// or the progress table Hugging Face's `NotebookProgressCallback` displays as HTML.
/// A notebook is saved whole: it is read again when it changes.
enum NotebookLog: LogReading {
    static let format = LogFormat(name: "Jupyter notebook")
    static let usualNames: [String] = []
    static func recognizes(_ sample: LogSample) -> Bool {
        guard sample.firstNonSpace == UInt8(ascii: "{") else { return false }
        let text = sample.text
        return text.contains("\"cells\"") && (text.contains("\"nbformat\"") || text.contains("\"cell_type\"") || sample.name.hasSuffix(".ipynb"))
    }
    static func follower(path: String, options: ReadOptions, followLinks: Bool) -> LogFollower {
        WholeFileFollower(path: path, format: format, followLinks: followLinks) { bytes throws(ReadError) in
            try read(try parseJSONDocument(bytes, path: path), path: path, options: options)
        }
    }

    static func read(_ notebook: JSONValue, path: String, options: ReadOptions) throws(ReadError) -> Run {
        guard let cells = notebook["cells"]?.array else {
            throw ReadError(path: path, problem: "is a notebook without cells")
        }
        var printed = PrintedLog.Parser(format: format, options: options)
        var tables: [Run] = []
        for cell in cells {
            for output in cell["outputs"]?.array ?? [] {
                if output["output_type"]?.string == "stream", let text = joined(output["text"]) {
                    // "\r\n" is one Character: split on it too (a notebook saved on Windows).
                    for line in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
                        printed.consume(line, end: .newline)
                    }
                }
                if let html = joined(output["data"]?["text/html"]), let table = progressTable(html) {
                    tables.append(table)
                }
            }
        }
        let fromText = printed.run
        let best = ([fromText] + tables).max { $0.epochs.count < $1.epochs.count } ?? fromText
        if best.epochs.isEmpty && best.batches.count == 0 {
            throw ReadError(path: path, problem: "is a notebook whose outputs hold no training log finetop reads")
        }
        return best
    }

    /// nbformat stores multi-line text as a string or a list of lines.
    static func joined(_ value: JSONValue?) -> String? {
        if let s = value?.string { return s }
        if let a = value?.array { return a.compactMap(\.string).joined() }
        return nil
    }

    /// The `<table>` transformers' notebook tracker shows: `Epoch | Training Loss | Validation Loss
    /// | <metrics>` (or `Step | …`), one row per evaluation; "No log" where a value is missing.
    /// (transformers/utils/notebook.py `text_to_html_table`.)
    static func progressTable(_ html: String) -> Run? {
        guard html.contains("<table"), html.contains("Validation Loss") || html.contains("Training Loss") else { return nil }
        func cells(_ row: Substring, tag: String) -> [String] {
            var out: [String] = []
            var rest = row
            while let open = rest.range(of: "<\(tag)") {
                guard let gt = rest[open.upperBound...].firstIndex(of: ">"),
                      let close = rest[gt...].range(of: "</\(tag)>") else { break }
                out.append(String(rest[rest.index(after: gt)..<close.lowerBound]).trimmingSpaces()
                    .split(whereSeparator: { $0 == "\n" }).joined().trimmingSpaces())
                rest = rest[close.upperBound...]
            }
            return out
        }
        let rows = html.components(separatedBy: "<tr").dropFirst().map { Substring($0) }
        guard let headerRow = rows.first(where: { $0.contains("<th") }) else { return nil }
        let header = cells(headerRow, tag: "th")
        guard !header.isEmpty else { return nil }
        let first = header[0]
        var builder = RunBuilder(format: format)
        var index = 0
        for row in rows where row.contains("<td") {
            let values = cells(row, tag: "td")
            guard values.count == header.count else { continue }
            var record: [String: Double] = [:]
            for (name, text) in zip(header, values).dropFirst() {
                guard let v = printedNumber(Substring(text)) else { continue }
                switch name {
                case "Training Loss": record["loss"] = v
                case "Validation Loss": record["val_loss"] = v
                default: record["val_" + name.lowercased().replacingSpaces()] = v
                }
            }
            let epoch = first == "Epoch" ? (Int(values[0]).map { max(0, $0 - 1) } ?? index) : index
            builder.addEpoch(EpochRecord(epoch: epoch, step: first == "Step" ? Int(values[0]) : nil, values: record))
            index += 1
        }
        let run = builder.snapshot
        return run.epochs.isEmpty ? nil : run
    }
}

extension String {
    func replacingSpaces() -> String { String(map { $0 == " " ? "_" : $0 }) }
}
