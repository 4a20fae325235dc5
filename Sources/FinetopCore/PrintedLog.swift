/// What training scripts print, saved to a file (`python train.py > train.log`, `nohup`, a CI log,
/// `finetop run`'s output.log): Keras `fit()` progress (Keras 2 and 3, verbose 1 and 2),
/// Hugging Face Trainer log dicts, PyTorch Lightning progress-bar metrics. Read as it grows.
enum PrintedLog: LogReading {
    static let format = LogFormat(name: "printed training log")
    static let usualNames = [RunFiles.output]
    static func recognizes(_ sample: LogSample) -> Bool {
        var parser = Parser(format: format, options: ReadOptions())
        var any = false
        for line in sample.text.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) {
            if parser.recognizes(line) { any = true; break }
        }
        return any
    }
    static func follower(path: String, options: ReadOptions, followLinks: Bool) -> LogFollower {
        LineFollower<Parser>(path: path, format: format, options: options, followLinks: followLinks)
    }

    /// Reads printed text line by line (any of the three kinds, even mixed).
    struct Parser: LineParser {
        var keras: KerasProgress
        var lightning: LightningProgress
        var huggingFace: HuggingFaceDicts
        /// Which kind spoke last: the run shown is the kind that printed the most epochs.
        init(format: LogFormat, options: ReadOptions) {
            keras = KerasProgress(format: format, options: options)
            lightning = LightningProgress(format: format, options: options)
            huggingFace = HuggingFaceDicts(format: format)
        }

        mutating func consume(_ line: Substring, end: LineEnd) {
            // A `\r` inside a line (a carriage return read at a chunk boundary) redraws too.
            if line.utf8.contains(0x0D) {
                let parts = line.split(separator: "\r", omittingEmptySubsequences: false)
                for (k, part) in parts.enumerated() { consume(part, end: k == parts.count - 1 ? end : .carriageReturn) }
                return
            }
            let text = Self.clean(line)
            if text.isEmpty { keras.blank(end: end); return }
            if huggingFace.take(text) { return }
            if lightning.take(text, end: end) { return }
            keras.take(text, end: end)
        }

        /// Whether a line is one this parser reads (for recognizing the format).
        mutating func recognizes(_ line: Substring) -> Bool {
            let text = Self.clean(line)
            return KerasProgress.epochMarker(text) != nil || KerasProgress.progress(text)?.metrics.isEmpty == false
                || HuggingFaceDicts.dict(text) != nil || LightningProgress.bar(text) != nil || LightningProgress.richBar(text) != nil
        }

        var run: Run {
            let k = keras.run, l = lightning.run, h = huggingFace.run
            return [k, l, h].max { $0.epochs.count + min($0.batches.count, 1) < $1.epochs.count + min($1.batches.count, 1) } ?? k
        }

        /// Without terminal escapes (`ESC [ … letter`), backspaces and other control characters.
        static func clean(_ line: Substring) -> Substring {
            var needs = false
            for u in line.utf8 where u < 0x20 && u != 0x09 { needs = true; break }
            guard needs else { return line }
            var out = [UInt8]()
            out.reserveCapacity(line.utf8.count)
            var it = line.utf8.makeIterator()
            while let u = it.next() {
                if u == 0x1B {
                    // CSI: ESC [ parameters… final byte in @…~
                    guard let n = it.next() else { break }
                    if n == UInt8(ascii: "[") {
                        while let p = it.next(), !(0x40...0x7E).contains(p) {}
                    }
                    continue
                }
                if u < 0x20 && u != 0x09 { continue }
                out.append(u)
            }
            return Substring(String(decoding: out, as: UTF8.self))
        }
    }
}

/// The numbers of a printed value: Python's `nan`/`inf` spellings accepted.
func printedNumber(_ s: Substring) -> Double? {
    switch s {
    case "nan", "NaN": return .nan
    case "inf", "Infinity": return .infinity
    case "-inf", "-Infinity": return -.infinity
    default: return Double(s)
    }
}

// MARK: - Keras fit() progress

/// `Epoch 3/50` then the progress line, redrawn after `\r` (verbose=1) or printed once (verbose=2):
///
///     Keras 3:  23/23 ━━━━━━━━━━━━━━━━━━━━ 1s 5ms/step - accuracy: 0.86 - loss: 0.41 - val_accuracy: … - val_loss: …
///     Keras 3, verbose=2:  23/23 - 1s - 5ms/step - accuracy: … - loss: …
///     Keras 2:  23/23 [==============================] - 1s 5ms/step - loss: 0.41 - accuracy: 0.86 - val_loss: …
///     Keras 2, verbose=2:  23/23 - 1s - loss: 0.41 - accuracy: 0.86 - val_loss: … - 1s/epoch - 5ms/step
///
/// (keras/src/utils/progbar.py `Progbar.update`; Keras 2: keras/utils/generic_utils.py.) An epoch's
/// values are its last progress line at the last step; a new `fit()` (`Epoch 1/…` after later
/// epochs) starts a new run; `initial_epoch` continuing a fit is the same run.
struct KerasProgress {
    var runs: EpochRuns
    var epoch: Int?                 // 0-based epoch of the last `Epoch k/N` marker
    var epochsPlanned: Int?
    var pending: [String: Double]?  // the current epoch's last values at its last step
    var pendingDone = false         // that line was finished (a line end, not a redraw)
    var lastStep = 0
    /// The current epoch was announced by `Epoch k/N` (a notebook may keep only the epochs' last
    /// lines: without markers, each finished last-step line is the next epoch).
    var marked = false

    init(format: LogFormat, options: ReadOptions) { runs = EpochRuns(format: format, options: options) }

    /// `Epoch 3/50` → (2, 50).
    static func epochMarker(_ text: Substring) -> (epoch: Int, of: Int)? {
        guard text.hasPrefix("Epoch ") else { return nil }
        let rest = text.dropFirst(6)
        guard let slash = rest.firstIndex(of: "/"), let e = Int(rest[..<slash]) else { return nil }
        let tail = rest[rest.index(after: slash)...].prefix { $0.isNumber }
        guard let n = Int(tail), e >= 1, rest[rest.index(after: slash)...].dropFirst(tail.count).allSatisfy({ $0 == " " }) else { return nil }
        return (e - 1, n)
    }

    /// A progress line: its step counter (`23/23`) if any and its ` - name: value` pairs.
    /// Scans the UTF-8 bytes once (this runs for every redraw of a progress bar).
    static func progress(_ text: Substring) -> (step: Int?, of: Int?, metrics: [(String, Double)])? {
        var copy = text
        return copy.withUTF8 { b -> (step: Int?, of: Int?, metrics: [(String, Double)])? in
            let n = b.count
            var i = 0
            while i < n && b[i] == 0x20 { i += 1 }
            func digits(_ at: inout Int) -> Int? {
                var v = 0, any = false
                while at < n, b[at] >= 0x30, b[at] <= 0x39, v < 1 << 40 { v = v * 10 + Int(b[at] - 0x30); at += 1; any = true }
                return any ? v : nil
            }
            var step: Int?, total: Int?
            var j = i
            if let k = digits(&j), j < n, b[j] == UInt8(ascii: "/") {
                j += 1
                if let t = digits(&j) { step = k; total = t; i = j }
            }
            let startsWithDash = i + 1 < n && b[i] == UInt8(ascii: "-") && b[i + 1] == 0x20
                || i + 2 < n && b[i] == 0x20 && b[i + 1] == UInt8(ascii: "-") && b[i + 2] == 0x20
            guard step != nil || startsWithDash else { return nil }
            var metrics: [(String, Double)] = []
            // Each ` - ` may start `name: value`; a name has no spaces.
            var p = i
            while p + 2 < n {
                guard b[p] == 0x20, b[p + 1] == UInt8(ascii: "-"), b[p + 2] == 0x20 else { p += 1; continue }
                let nameStart = p + 3
                var q = nameStart
                while q < n, b[q] != 0x20, b[q] != UInt8(ascii: ":") { q += 1 }
                guard q + 1 < n, b[q] == UInt8(ascii: ":"), b[q + 1] == 0x20, q > nameStart, q - nameStart < 80 else { p = q; continue }
                var v = q + 2
                let valueStart = v
                while v < n, b[v] != 0x20 { v += 1 }
                let name = String(decoding: UnsafeBufferPointer(rebasing: b[nameStart..<q]), as: UTF8.self)
                if name != "ETA", let value = printedNumber(Substring(String(decoding: UnsafeBufferPointer(rebasing: b[valueStart..<v]), as: UTF8.self))) {
                    metrics.append((name, value))
                }
                p = v
            }
            if step == nil && metrics.isEmpty { return nil }
            return (step, total, metrics)
        }
    }

    mutating func blank(end: LineEnd) {
        // A `\r\n` split across reads, or a callback's empty line: ends a finished line.
        if end == .newline, pending != nil, lastStepWasTotal { pendingDone = true }
    }

    private var lastStepWasTotal = false

    mutating func take(_ text: Substring, end: LineEnd) {
        if let (e, n) = Self.epochMarker(text) {
            commitPending()
            // A new fit() starts over at `Epoch 1/…`; `initial_epoch` continuing one repeats its last epoch.
            if let last = epoch, e < last || (e == 0 && !runs.current.run.epochs.isEmpty) { runs.startRun() }
            epoch = e
            epochsPlanned = n
            lastStep = 0
            marked = true
            return
        }
        guard let p = Self.progress(text) else { return }
        if epoch == nil {
            // verbose=2 without markers (Keras 2's `Train on …` era printed them; be lenient).
            guard !p.metrics.isEmpty else { return }
            epoch = runs.current.run.epochs.last.map { $0.epoch + 1 } ?? 0
        }
        guard var e = epoch, !p.metrics.isEmpty else { return }
        let finished = end == .newline && (p.step == nil || p.step == p.of)
        if finished && pendingDone && !marked {
            commitPending()
            e += 1
            epoch = e
            lastStep = 0
        }
        let values = Dictionary(p.metrics, uniquingKeysWith: { _, b in b })
        let atEnd = p.step == nil || p.step == p.of
        if let k = p.step, let n = p.of, k != lastStep, let loss = values["loss"] {
            runs.current.appendBatch(epoch: e, step: e * n + k, loss: loss)
            lastStep = k
        }
        lastStepWasTotal = atEnd
        if atEnd {
            // The last step's values; the finished line (with val_ values) replaces a redraw.
            if pending == nil || !pendingDone || values.keys.contains(where: { $0.hasPrefix("val_") }) {
                pending = values
                pendingDone = end == .newline
            }
            if p.step == nil { commitPending() }
        }
    }

    /// Records the current epoch from its last progress line at the last step.
    mutating func commitPending() {
        if let e = epoch, let values = pending {
            runs.add(EpochRecord(epoch: e, values: values))
            if let n = epochsPlanned {
                var info = runs.current.run.info ?? RunInfo(framework: "keras")
                info.hparams.epochs = n
                runs.current.setInfo(info)
            }
        }
        pending = nil
        pendingDone = false
        marked = false
    }

    var run: Run {
        var copy = self
        copy.commitPending()
        return copy.runs.snapshot
    }
}

// MARK: - Hugging Face Trainer log dicts

/// `Trainer` prints each log as a Python dict (`ProgressCallback.on_log`: `self.training_bar.write(str(logs))`):
/// `{'loss': 0.52, 'grad_norm': 1.3, 'learning_rate': 4e-05, 'epoch': 1.0}`, `{'eval_loss': 0.41,
/// 'eval_accuracy': 0.8, …, 'epoch': 1.0}` and a last `{'train_runtime': …, 'train_loss': …}`.
/// They are read as trainer_state.json's `log_history` is.
struct HuggingFaceDicts {
    var history: [JSONValue] = []
    let format: LogFormat
    init(format: LogFormat) { self.format = format }

    /// A printed dict with a `loss`, `eval_loss` or `train_runtime` key, as JSON.
    static func dict(_ text: Substring) -> JSONValue? {
        let t = text.drop { $0 == " " }
        guard t.hasPrefix("{'") || t.hasPrefix("{\""), t.contains("'loss'") || t.contains("'eval_loss'") || t.contains("'train_runtime'")
                || t.contains("\"loss\"") || t.contains("\"eval_loss\"") else { return nil }
        guard let close = t.lastIndex(of: "}") else { return nil }
        var json = ""
        json.reserveCapacity(t.utf8.count)
        var inString = false
        var token = ""
        func flushToken() {
            switch token {
            case "nan": json += "NaN"
            case "inf": json += "Infinity"
            case "-inf": json += "-Infinity"
            case "True": json += "true"
            case "False": json += "false"
            case "None": json += "null"
            default: json += token
            }
            token = ""
        }
        for ch in t[...close] {
            if inString {
                if ch == "'" { json.append("\""); inString = false } else if ch == "\"" { json += "\\\"" } else { json.append(ch) }
                continue
            }
            if ch == "'" || ch == "\"" { flushToken(); inString = true; json.append("\""); continue }
            if ch.isLetter || ch.isNumber || ch == "." || ch == "-" || ch == "+" || ch == "_" { token.append(ch); continue }
            flushToken()
            json.append(ch)
        }
        flushToken()
        var bytes = Array(json.utf8)
        guard case .success(let v) = bytes.withUnsafeMutableBufferPointer({ JSONParser.parse(UnsafeBufferPointer($0)) }),
              case .object(let pairs) = v else { return nil }
        // transformers 5 prints the numbers formatted, as strings: `{'loss': '0.6929', …}`.
        return .object(pairs.map { key, value in
            if case .string(let s) = value, let d = printedNumber(Substring(s)) { return (key, .number(d)) }
            return (key, value)
        })
    }

    mutating func take(_ text: Substring) -> Bool {
        guard let v = Self.dict(text) else { return false }
        history.append(v)
        return true
    }

    var run: Run {
        guard !history.isEmpty,
              var r = try? Importers.trainerState(.object([("log_history", .array(history))]), path: "")
        else { return Run(format: format) }
        r.format = format
        return r
    }
}

// MARK: - PyTorch Lightning progress bar

/// Lightning's TQDM bar: `Epoch 3: 100%|██████████| 8/8 [00:00<00:00, 95.1it/s, v_num=0,
/// train_loss_step=0.512, val_loss=0.498, val_acc=0.750, train_loss_epoch=0.530]`, redrawn after
/// `\r` (lightning/pytorch/callbacks/progress/tqdm_progress.py: `f"Epoch {trainer.current_epoch}"`
/// and `get_metrics` in the postfix). An epoch's values are its bar's last state.
///
/// And its Rich bar (`RichProgressBar`, Lightning's default when `rich` is installed): `Epoch 3/3
/// ━━━━━━╺━━━ 6/8 0:00:02 • 0:00:01 3.42it/s v_num: 0.000 train_loss_step: 0.358 val_loss: 0.309`
/// (rich_progress.py: `_get_train_description`, `MetricsTextColumn` joins `name: value` with
/// spaces). Rich wraps the metrics column at the console's width (80 in a file), so a row's
/// metrics may continue on the next, indented lines. To a file Rich prints only the final state;
/// redrawn live (cursor moved up with `ESC[1A`) when it takes the output for a terminal
/// (`TTY_COMPATIBLE=1`, which `finetop run` sets for its job).
struct LightningProgress {
    var runs: EpochRuns
    var epoch: Int?
    var values: [String: Double] = [:]
    var reachedEnd = false
    var batchStep = 0
    /// A Rich bar row read, with its continuation rows so far (taken when the next line is not one).
    var richRow: String?

    init(format: LogFormat, options: ReadOptions) { runs = EpochRuns(format: format, options: options) }

    /// (epoch, step, of, metrics) of a bar line.
    static func bar(_ text: Substring) -> (epoch: Int, step: Int?, of: Int?, metrics: [(String, Double)])? {
        let t = text.drop { $0 == " " }
        guard t.hasPrefix("Epoch "), let colon = t.firstIndex(of: ":"), let e = Int(t[t.index(t.startIndex, offsetBy: 6)..<colon]),
              t.contains("|"), let open = t.lastIndex(of: "["), t.contains("it/s") || t.contains("s/it") || t.contains("?") else { return nil }
        var step: Int?, total: Int?
        let before = t[..<open].trimmingSuffix(" ")
        if let space = before.lastIndex(of: " ") ?? before.lastIndex(of: "|") {
            let counter = before[before.index(after: space)...]
            let parts = counter.split(separator: "/")
            if parts.count == 2 { step = Int(parts[0]); total = Int(parts[1]) }
        }
        var metrics: [(String, Double)] = []
        let inside = t[t.index(after: open)...].prefix { $0 != "]" }
        for item in inside.split(separator: ",").dropFirst() {
            let kv = item.split(separator: "=", maxSplits: 1)
            guard kv.count == 2 else { continue }
            let name = String(kv[0]).trimmingSpaces()
            guard name != "v_num", let v = printedNumber(Substring(String(kv[1]).trimmingSpaces())) else { continue }
            metrics.append((name, v))
        }
        return (e, step, total, metrics)
    }

    /// (epoch, step, of, metrics) of a Rich bar row (its continuation rows joined to it).
    static func richBar(_ text: Substring) -> (epoch: Int, step: Int?, of: Int?, metrics: [(String, Double)])? {
        let t = text.drop { $0 == " " }
        guard t.hasPrefix("Epoch "), t.contains("━") || t.contains("•") else { return nil }
        let tokens = t.split(separator: " ")
        guard tokens.count >= 3, let e = Int(tokens[1].prefix { $0 != "/" }), e >= 0 else { return nil }
        var step: Int?, total: Int?
        var k = 2
        while k < tokens.count {
            let parts = tokens[k].split(separator: "/", omittingEmptySubsequences: false)
            if parts.count == 2, let a = Int(parts[0]), let b = Int(parts[1]) {
                step = a
                total = b
                k += 1
                break
            }
            k += 1
        }
        guard step != nil else { return nil }
        var metrics: [(String, Double)] = []
        while k + 1 < tokens.count {
            let name = tokens[k]
            if name.count > 1, name.hasSuffix(":"), !name.dropLast().contains(":"), let v = printedNumber(tokens[k + 1]) {
                if name != "v_num:" { metrics.append((String(name.dropLast()), v)) }
                k += 2
            } else {
                k += 1
            }
        }
        return (e, step, total, metrics)
    }

    /// A row Rich wrapped the metrics column onto: indented past the bar's columns.
    static func isContinuation(_ text: Substring) -> Bool {
        let indent = text.prefix { $0 == " " }.count
        return indent >= 20 && indent < text.count
    }

    mutating func take(_ text: Substring, end: LineEnd) -> Bool {
        if let row = richRow, Self.isContinuation(text) {
            richRow = row + " " + text.drop { $0 == " " }
            return true
        }
        takeRichRow()
        if Self.richBar(text) != nil {
            richRow = String(text)
            return true
        }
        guard let b = Self.bar(text) else { return false }
        take(b)
        return true
    }

    /// Takes the Rich row read last, now that its continuation rows (if any) are in.
    mutating func takeRichRow() {
        guard let row = richRow else { return }
        richRow = nil
        guard let b = Self.richBar(Substring(row)) else { return }
        // Rich redraws at most once a second, so an epoch's last row often shows the previous
        // validation's values; the next epoch's rows show this one's until its own validation.
        if let e = epoch, b.epoch > e, let k = b.step, let n = b.of, k < n {
            for (column, v) in b.metrics {
                if case .epoch(let name) = LightningCSVLog.name(column) { values[name] = v }
            }
        }
        take(b)
    }

    private mutating func take(_ b: (epoch: Int, step: Int?, of: Int?, metrics: [(String, Double)])) {
        if b.epoch != epoch {
            commit()
            if let last = epoch, b.epoch < last { runs.startRun() }
            epoch = b.epoch
        }
        var named: [String: Double] = [:]
        for (column, v) in b.metrics {
            switch LightningCSVLog.name(column) {
            case .step(let name):
                named[name] = v
                if name == "loss", let k = b.step, k != batchStep {
                    runs.current.appendBatch(epoch: b.epoch, step: nil, loss: v)
                    batchStep = k
                }
            case .epoch(let name): named[name] = v
            }
        }
        if !named.isEmpty { values = named }
        if let k = b.step, let n = b.of, k == n { reachedEnd = true }
    }

    mutating func commit() {
        if let e = epoch, !values.isEmpty { runs.add(EpochRecord(epoch: e, values: values)) }
        values = [:]
        reachedEnd = false
        batchStep = 0
    }

    var run: Run {
        var copy = self
        copy.takeRichRow()
        if copy.reachedEnd { copy.commit() }
        return copy.runs.snapshot
    }
}

extension Substring {
    func trimmingSuffix(_ ch: Character) -> Substring {
        var s = self
        while s.last == ch { s = s.dropLast() }
        return s
    }
}
