/// The CSV logs finetop reads, each read row by row as it grows. They share `CSVRows` (header,
/// delimiter, repeated headers) and `EpochRuns` (several runs appended to one file).

/// One CSV line split into cells (RFC 4180 quotes; the delimiter is the first of `,` `;` tab
/// in the header).
enum CSVLine {
    static func delimiter(of header: Substring) -> Character {
        for d: Character in [",", ";", "\t"] where header.contains(d) { return d }
        return ","
    }

    static func split(_ line: String, delimiter: Character? = nil) -> [String] {
        var body = Substring(line)
        if body.hasPrefix("\u{FEFF}") { body = body.dropFirst() }
        let delim = delimiter ?? Self.delimiter(of: body)
        var out: [String] = []
        var field = ""
        var quoted = false
        var pendingQuote = false
        for ch in body {
            if quoted {
                if pendingQuote {
                    pendingQuote = false
                    if ch == "\"" { field.append("\""); continue }
                    quoted = false
                } else if ch == "\"" {
                    pendingQuote = true
                    continue
                } else {
                    field.append(ch)
                    continue
                }
            }
            if ch == "\"" && field.isEmpty {
                quoted = true
            } else if ch == delim {
                out.append(field)
                field = ""
            } else {
                field.append(ch)
            }
        }
        out.append(field)
        return out
    }
}

/// The header and rows of a CSV file read line by line.
struct CSVRows {
    private(set) var header: [String] = []
    private var headerLine = ""
    private var delimiter: Character = ","
    /// Set when the header line comes again (a logger that writes it at every fit).
    private(set) var headerRepeats = 0

    enum Line { case header, row([String]), blank, mismatched }

    mutating func take(_ line: Substring) -> Line {
        var text = String(line)
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        if text.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" }) { return .blank }
        if header.isEmpty {
            headerLine = text
            delimiter = CSVLine.delimiter(of: Substring(text))
            header = CSVLine.split(text, delimiter: delimiter).map { $0.trimmingSpaces() }
            return .header
        }
        if text == headerLine {
            headerRepeats += 1
            return .header
        }
        let cells = CSVLine.split(text, delimiter: delimiter)
        return cells.count == header.count ? .row(cells) : .mismatched
    }

    func column(_ name: String) -> Int? { header.firstIndex(of: name) }
}

/// Epoch records grouped into runs: a file several fits appended to starts a new run when the
/// epoch goes back (CSVLogger with `append=True`) or the header comes again.
struct EpochRuns {
    private(set) var runs: [RunBuilder]
    private var lastEpoch: Int?
    let format: LogFormat
    let options: ReadOptions

    init(format: LogFormat, options: ReadOptions) {
        self.format = format
        self.options = options
        runs = [RunBuilder(format: format)]
    }

    /// The run being written.
    /// Modified in place (`_modify`): a get-then-set would copy the run's columns on every line.
    var current: RunBuilder {
        get { runs[runs.count - 1] }
        _modify { yield &runs[runs.count - 1] }
    }

    /// Starts a new run if the one being written has anything in it.
    mutating func startRun() {
        if !current.run.epochs.isEmpty || current.run.batches.count > 0 {
            runs.append(RunBuilder(format: format))
            lastEpoch = nil
        }
    }

    /// Adds an epoch record; an epoch lower than the last one starts a new run.
    mutating func add(_ record: EpochRecord) {
        if let lastEpoch, record.epoch < lastEpoch { startRun() }
        current.addEpoch(record)
        lastEpoch = record.epoch
    }

    mutating func skip(_ reason: String) { current.skip(reason) }

    /// The run `options.run` names (the last by default), with how many there are.
    var snapshot: Run {
        let filled = runs.filter { !$0.run.epochs.isEmpty || $0.run.batches.count > 0 || $0.run.skippedLines > 0 }
        let all = filled.isEmpty ? [runs[runs.count - 1]] : filled
        let k = min(max(options.run ?? all.count, 1), all.count)
        var r = all[k - 1].snapshot
        r.runsInFile = all.count
        r.runNumber = options.run ?? all.count
        return r
    }
}

/// A CSV log whose data rows are epochs (Keras CSVLogger, pandas History dumps, fastai, YOLO): the
/// walk over header, blank and mismatched lines is shared — a header written again starts a new
/// run — and each format says what a header means to it and what a row is.
protocol CSVEpochParser: LineParser {
    var rows: CSVRows { get set }
    var runs: EpochRuns { get set }
    /// A header was read; `repeated` when it is not the file's first (a new run has started).
    mutating func header(repeated: Bool)
    mutating func row(_ cells: [String])
}

extension CSVEpochParser {
    mutating func consume(_ line: Substring, end: LineEnd) {
        switch rows.take(line) {
        case .header:
            let repeated = rows.headerRepeats > 0
            if repeated { runs.startRun() }
            header(repeated: repeated)
        case .blank: break
        case .mismatched: runs.skip("a row that does not match the header")
        case .row(let cells): row(cells)
        }
    }
    var run: Run { runs.snapshot }
}

/// Values of a row by column name, numbers only (Python's `nan`/`inf` spellings accepted).
func numericCells(_ cells: [String], header: [String], except skipped: Set<Int> = []) -> [(String, Double)] {
    var out: [(String, Double)] = []
    for (k, name) in header.enumerated() where !skipped.contains(k) && k < cells.count {
        if let v = CSVTable.number(cells[k]) { out.append((name, v)) }
    }
    return out
}

// MARK: - Keras CSVLogger

/// `keras.callbacks.CSVLogger`: `epoch,accuracy,loss,val_accuracy,val_loss`, one row per epoch,
/// 0-based; `append=True` adds later fits' rows below (epochs restart).
/// Also any CSV with an epoch column written by hand (`Epoch,Train Loss,Validation Loss`): names
/// are read as Keras names (`Train Loss` → `loss`, `Validation Accuracy` → `val_accuracy`), and
/// epochs counted from 1 are shifted to Keras's 0-based numbers.
enum KerasCSVLog: LogReading {
    static let format = LogFormat(name: "Keras CSVLogger CSV", framework: "keras")
    static let usualNames: [String] = []
    static func recognizes(_ sample: LogSample) -> Bool {
        let header = sample.csvHeader
        return header.contains { $0.lowercased() == "epoch" } && header.count >= 2
    }

    /// A hand-written column name as Keras would spell it; Keras's own names pass unchanged.
    static func kerasName(_ column: String) -> String {
        guard column.contains(" ") || column != column.lowercased() || column.hasPrefix("train_") || column.hasPrefix("validation_")
        else { return column }
        var n = column.lowercased().replacingSpaces()
        for (prefix, to) in [("validation_", "val_"), ("valid_", "val_"), ("test_", "val_"), ("train_", ""), ("training_", "")]
        where n.hasPrefix(prefix) {
            n = to + n.dropFirst(prefix.count)
            break
        }
        return n
    }
    static func follower(path: String, options: ReadOptions, followLinks: Bool) -> LogFollower {
        LineFollower<Parser>(path: path, format: format, options: options, followLinks: followLinks)
    }

    struct Parser: CSVEpochParser {
        var rows = CSVRows()
        var runs: EpochRuns
        var names: [String] = []
        var base: Int?
        init(format: LogFormat, options: ReadOptions) { runs = EpochRuns(format: format, options: options) }

        mutating func header(repeated: Bool) { names = rows.header.map(KerasCSVLog.kerasName) }

        mutating func row(_ cells: [String]) {
            guard let e = names.firstIndex(of: "epoch"), let number = CSVTable.number(cells[e])?.wholeInt, number >= 0 else {
                runs.skip("a row without a whole epoch number")
                return
            }
            // Keras counts from 0; a hand-written log that starts at 1 counts from 1.
            if base == nil { base = number == 1 && rows.header[e] != "epoch" ? 1 : 0 }
            let epoch = max(0, number - (base ?? 0))
            runs.add(EpochRecord(epoch: epoch, values: Dictionary(numericCells(cells, header: names, except: [e]),
                                                                  uniquingKeysWith: { a, _ in a })))
        }
    }
}

// MARK: - pandas dump of History.history

/// `pd.DataFrame(history.history).to_csv(path)`: `,loss,accuracy,val_loss,val_accuracy` — no
/// epoch column, the unnamed index first (or no index with `index=False`); row k is epoch k.
enum PandasHistoryCSVLog: LogReading {
    static let format = LogFormat(name: "pandas CSV of Keras History", framework: "keras")
    static let usualNames: [String] = []
    static func recognizes(_ sample: LogSample) -> Bool {
        let header = sample.csvHeader
        guard header.count >= 2, !header.contains("epoch") else { return false }
        let named = header.dropFirst(isIndex(header[0]) ? 1 : 0)
        return named.contains { $0.lowercased().contains("loss") } && named.allSatisfy { !$0.isEmpty && !$0.contains(" ") }
    }
    /// pandas names the index column "" (or "Unnamed: 0" once read back and written again).
    static func isIndex(_ name: String) -> Bool { name.isEmpty || name.hasPrefix("Unnamed: ") || name == "index" }
    static func follower(path: String, options: ReadOptions, followLinks: Bool) -> LogFollower {
        LineFollower<Parser>(path: path, format: format, options: options, followLinks: followLinks)
    }

    struct Parser: CSVEpochParser {
        var rows = CSVRows()
        var runs: EpochRuns
        var count = 0
        init(format: LogFormat, options: ReadOptions) { runs = EpochRuns(format: format, options: options) }

        mutating func header(repeated: Bool) { if repeated { count = 0 } }

        mutating func row(_ cells: [String]) {
            let indexed = PandasHistoryCSVLog.isIndex(rows.header[0])
            let epoch = indexed ? (CSVTable.number(cells[0])?.wholeInt ?? count) : count
            count += 1
            runs.add(EpochRecord(epoch: max(0, epoch), values: Dictionary(
                numericCells(cells, header: rows.header, except: indexed ? [0] : []), uniquingKeysWith: { a, _ in a })))
        }
    }
}

// MARK: - fastai CSVLogger

/// fastai's `CSVLogger` (`history.csv`): `epoch,train_loss,valid_loss,<metrics>,time`; the
/// header is written at every fit, metrics are measured on the validation set, `#na#` marks a
/// value not computed, `time` is `mm:ss`.
/// Layout: fastai/callback/progress.py, `CSVLogger.before_fit` writes
/// `','.join(self.recorder.metric_names) + '\n'`, `after_fit`… and `Recorder.metric_names` is
/// `['epoch'] + ['train_loss', 'valid_loss'] + metrics + ['time']`.
enum FastaiCSVLog: LogReading {
    static let format = LogFormat(name: "fastai CSVLogger history.csv", framework: "fastai")
    static let usualNames = ["history.csv"]
    static func recognizes(_ sample: LogSample) -> Bool {
        let header = sample.csvHeader
        return header.first == "epoch" && header.contains("train_loss") && (header.contains("valid_loss") || header.last == "time")
    }
    static func follower(path: String, options: ReadOptions, followLinks: Bool) -> LogFollower {
        LineFollower<Parser>(path: path, format: format, options: options, followLinks: followLinks)
    }

    static func name(_ column: String) -> String {
        switch column {
        case "train_loss": return "loss"
        case "valid_loss": return "val_loss"
        default: return "val_" + column
        }
    }

    struct Parser: CSVEpochParser {
        var rows = CSVRows()
        var runs: EpochRuns
        init(format: LogFormat, options: ReadOptions) { runs = EpochRuns(format: format, options: options) }

        mutating func header(repeated: Bool) {}

        mutating func row(_ cells: [String]) {
            guard let e = rows.column("epoch"), let epoch = CSVTable.number(cells[e])?.wholeInt, epoch >= 0 else {
                runs.skip("a row without a whole epoch number")
                return
            }
            var values: [String: Double] = [:]
            let skipped = Set([e] + (rows.column("time").map { [$0] } ?? []))
            for (name, v) in numericCells(cells, header: rows.header, except: skipped) { values[FastaiCSVLog.name(name)] = v }
            runs.add(EpochRecord(epoch: epoch, values: values))
        }
    }
}

// MARK: - Ultralytics YOLO results.csv

/// Ultralytics' `results.csv`: `epoch,[time,]train/box_loss,train/cls_loss,train/dfl_loss,
/// metrics/precision(B),…,val/box_loss,…,lr/pg0,…`, epochs 1-based; older versions pad every
/// cell to 23 characters. The loss is the sum of the `train/*_loss` columns (as YOLO optimizes it),
/// the validation loss the sum of `val/*_loss`; `metrics/*` are validation metrics.
/// Layout: ultralytics/engine/trainer.py `save_metrics`: header `("%s," * n % tuple(["epoch", "time"] + keys))`,
/// rows `("%.6g," * n % tuple([self.epoch + 1, t] + vals))` (8.1+: `"%23s,"` / `"%23.5g,"` without time).
enum UltralyticsCSVLog: LogReading {
    static let format = LogFormat(name: "Ultralytics YOLO results.csv", framework: "ultralytics")
    static let usualNames = ["results.csv"]
    static func recognizes(_ sample: LogSample) -> Bool {
        let header = sample.csvHeader
        return header.first == "epoch" && header.contains { $0.hasPrefix("train/") && $0.hasSuffix("loss") }
    }
    static func follower(path: String, options: ReadOptions, followLinks: Bool) -> LogFollower {
        LineFollower<Parser>(path: path, format: format, options: options, followLinks: followLinks)
    }

    static func name(_ column: String) -> String? {
        if column.hasPrefix("train/") { return String(column.dropFirst(6)) }
        if column.hasPrefix("val/") { return "val_" + column.dropFirst(4) }
        if column.hasPrefix("metrics/") { return "val_" + column.dropFirst(8) }
        if column.hasPrefix("lr/") { return "lr_" + column.dropFirst(3) }
        if column == "time" || column == "epoch" { return nil }
        return column
    }

    struct Parser: CSVEpochParser {
        var rows = CSVRows()
        var runs: EpochRuns
        var firstEpoch: Int?
        init(format: LogFormat, options: ReadOptions) { runs = EpochRuns(format: format, options: options) }

        mutating func header(repeated: Bool) { if repeated { firstEpoch = nil } }

        mutating func row(_ cells: [String]) {
            guard let e = rows.column("epoch"), let epoch = CSVTable.number(cells[e])?.wholeInt, epoch >= 0 else {
                runs.skip("a row without a whole epoch number")
                return
            }
            // Ultralytics 8 writes `self.epoch + 1`; YOLOv5's train.py wrote the 0-based epoch.
            if firstEpoch == nil { firstEpoch = epoch }
            let base = firstEpoch == 0 ? 0 : 1
            var values: [String: Double] = [:]
            var train = 0.0, val = 0.0, trainParts = 0, valParts = 0
            for (column, v) in numericCells(cells, header: rows.header, except: [e]) {
                guard let name = UltralyticsCSVLog.name(column) else { continue }
                values[name] = v
                if column.hasPrefix("train/") && column.hasSuffix("loss") { train += v; trainParts += 1 }
                if column.hasPrefix("val/") && column.hasSuffix("loss") { val += v; valParts += 1 }
            }
            if trainParts > 0 { values["loss"] = train }
            if valParts > 0 { values["val_loss"] = val }
            runs.add(EpochRecord(epoch: epoch - base, values: values))
        }
    }
}

// MARK: - PyTorch Lightning CSVLogger

/// `metrics.csv`: `epoch,step` plus one column per logged name; training and validation values
/// sit on different rows, empty cells elsewhere. `train_loss_step` / `train_loss_epoch` appear
/// when a value is logged with both `on_step` and `on_epoch`. Lightning rewrites the file when a
/// new name appears (the reader starts over then).
enum LightningCSVLog: LogReading {
    static let format = LogFormat(name: "PyTorch Lightning metrics.csv", framework: "lightning")
    static let usualNames = ["metrics.csv"]
    static func recognizes(_ sample: LogSample) -> Bool {
        let header = sample.csvHeader
        // Keras's CSVLogger never writes "step"; Lightning always does, and "_step"/"_epoch"
        // suffixes when a value is logged both ways.
        return header.contains("epoch") && header.count >= 2
            && (header.contains("step") || header.contains { $0.hasSuffix("_step") || $0.hasSuffix("_epoch") })
    }
    static func follower(path: String, options: ReadOptions, followLinks: Bool) -> LogFollower {
        LineFollower<Parser>(path: path, format: format, options: options, followLinks: followLinks)
    }

    enum Column: Equatable { case step(String), epoch(String) }

    /// `train_loss_step` → per-step `loss`; `train_acc_epoch` → epoch `acc`; `val_loss` → epoch
    /// `val_loss`; `valid_acc` / `validation_acc` → `val_acc`; plain `train_loss` is per step.
    static func name(_ column: String) -> Column {
        var name = column
        var perStep: Bool?
        if name.hasSuffix("_step") { name.removeLast(5); perStep = true } else if name.hasSuffix("_epoch") { name.removeLast(6); perStep = false }
        for prefix in ["validation_", "valid_", "val_", "validation/", "val/"] where name.hasPrefix(prefix) {
            return .epoch("val_" + name.dropFirst(prefix.count))
        }
        for prefix in ["train_", "training_", "train/"] where name.hasPrefix(prefix) {
            name = String(name.dropFirst(prefix.count))
            return perStep == false ? .epoch(name) : .step(name)
        }
        if name == "loss" { return perStep == false ? .epoch(name) : .step(name) }
        return perStep == true ? .step(name) : .epoch(name)
    }

    struct Parser: LineParser {
        struct Accumulator { var sums: [String: (Double, Int)] = [:]; var last: [String: Double] = [:]; var step: Int? }
        var rows = CSVRows()
        var builder: RunBuilder
        var byEpoch: [Int: Accumulator] = [:]
        var columns: [Column] = []

        init(format: LogFormat, options: ReadOptions) { builder = RunBuilder(format: format) }

        mutating func consume(_ line: Substring, end: LineEnd) {
            switch rows.take(line) {
            case .header: columns = rows.header.map(LightningCSVLog.name)
            case .blank: break
            case .mismatched: builder.skip("a row that does not match the header")
            case .row(let cells):
                guard let e = rows.column("epoch"), let epoch = CSVTable.number(cells[e])?.wholeInt, epoch >= 0 else {
                    builder.skip("a row without a whole epoch number")
                    return
                }
                let s = rows.column("step")
                let step = s.flatMap { CSVTable.number(cells[$0]) }.flatMap(\.wholeInt)
                var acc = byEpoch[epoch] ?? Accumulator()
                for k in rows.header.indices where k != e && k != s {
                    guard let v = CSVTable.number(cells[k]) else { continue }
                    switch columns[k] {
                    case .step(let name):
                        if name == "loss" { builder.appendBatch(epoch: epoch, step: step, loss: v) }
                        let sum = acc.sums[name] ?? (0, 0)
                        acc.sums[name] = (sum.0 + v, sum.1 + 1)
                    case .epoch(let name):
                        acc.last[name] = v
                    }
                }
                if let step { acc.step = max(acc.step ?? step, step) }
                byEpoch[epoch] = acc
            }
        }

        var run: Run {
            var b = builder
            for epoch in byEpoch.keys.sorted() {
                guard let acc = byEpoch[epoch] else { continue }
                var values = acc.last
                // A value logged only per step stands for its epoch as the mean over the epoch, as Keras reports it.
                for (name, (sum, count)) in acc.sums where values[name] == nil && count > 0 {
                    values[name] = sum / Double(count)
                }
                guard !values.isEmpty else { continue }
                b.addEpoch(EpochRecord(epoch: epoch, step: acc.step, values: values))
            }
            return b.snapshot
        }
    }
}
