/// Reads JSON logs written by other tools into the same `Run` model. View and diagnose only:
/// these runs accept no control.
enum Importers {
    // MARK: Keras History

    /// `json.dump(history.history)` — `{"loss": [...], "val_loss": [...]}` — or the same under a
    /// `"history"` key beside `"epoch"` and `"params"`.
    static func kerasHistory(_ value: JSONValue, path: String) throws(ReadError) -> Run {
        let dict = value["history"] ?? value
        guard let pairs = dict.objectPairs else {
            throw ReadError(path: path, problem: "is JSON without a history dict, expected Keras History.history")
        }
        let series = pairs.compactMap { name, v -> (String, [Double?])? in
            guard let a = v.array else { return nil }
            return (name, a.map { $0.double })
        }
        guard series.contains(where: { $0.0 == "loss" || $0.0.hasSuffix("loss") }) else {
            throw ReadError(path: path, problem: "is JSON without a \"loss\" list, expected Keras History.history")
        }
        let count = series.map(\.1.count).max() ?? 0
        let epochNumbers = value["epoch"]?.array?.compactMap(\.int)
        var builder = RunBuilder(format: KerasHistoryLog.format)
        for k in 0..<count {
            var values: [String: Double] = [:]
            for (name, column) in series where k < column.count {
                if let v = column[k] { values[name] = v }
            }
            let epoch = epochNumbers.flatMap { k < $0.count ? $0[k] : nil } ?? k
            builder.addEpoch(EpochRecord(epoch: epoch, values: values))
        }
        var run = builder.snapshot
        if let params = value["params"], case .object = params {
            var info = RunInfo(framework: "keras")
            info.hparams.epochs = params["epochs"]?.int
            run.info = info
        }
        return run
    }

    // MARK: Hugging Face trainer_state.json

    /// `log_history`: training entries (`loss`, `learning_rate`, `epoch` as a float, `step`) at
    /// logging steps and evaluation entries (`eval_loss`, `eval_<metric>`) at evaluations. Each
    /// evaluation becomes one record with the mean training loss logged since the previous one;
    /// without evaluations, each logged training loss is one record (a fine-tune of one or two
    /// epochs logs its curve only there).
    static func trainerState(_ value: JSONValue, path: String) throws(ReadError) -> Run {
        guard let history = value["log_history"]?.array else {
            throw ReadError(path: path, problem: "is JSON without \"log_history\", expected a Hugging Face trainer_state.json")
        }
        var builder = RunBuilder(format: TrainerStateLog.format)
        var trainSum = 0.0, trainCount = 0
        var lastLR: Double?
        let evalCount = history.filter { $0["eval_loss"] != nil }.count
        var evalIndex = 0
        let skipped: Set<String> = ["eval_runtime", "eval_samples_per_second", "eval_steps_per_second", "epoch", "step"]
        func flushTrain(epoch: Int, step: Int?, into builder: inout RunBuilder) {
            guard trainCount > 0 else { return }
            var values = ["loss": trainSum / Double(trainCount)]
            if let lastLR { values["learning_rate"] = lastLR }
            builder.addEpoch(EpochRecord(epoch: epoch, step: step, values: values))
            trainSum = 0
            trainCount = 0
        }
        for entry in history {
            let step = entry["step"]?.int
            let epochFloat = entry["epoch"]?.double ?? 0
            if let loss = entry["loss"]?.double {
                let epoch = max(0, (epochFloat - 1e-9).rounded(.down).wholeInt ?? 0)
                builder.appendBatch(epoch: epoch, step: step, loss: loss)
                trainSum += loss
                trainCount += 1
                lastLR = entry["learning_rate"]?.double ?? lastLR
                if evalCount == 0 {
                    flushTrain(epoch: builder.run.epochs.count, step: step, into: &builder)
                }
            } else if entry["eval_loss"] != nil, let pairs = entry.objectPairs {
                var values: [String: Double] = [:]
                for (k, v) in pairs where !skipped.contains(k) {
                    guard let d = v.double else { continue }
                    values[k.hasPrefix("eval_") ? "val_" + k.dropFirst(5) : k] = d
                }
                if trainCount > 0 { values["loss"] = trainSum / Double(trainCount) }
                if let lastLR { values["learning_rate"] = lastLR }
                trainSum = 0
                trainCount = 0
                builder.addEpoch(EpochRecord(epoch: evalIndex, step: step, values: values))
                evalIndex += 1
            }
        }
        var run = builder.snapshot
        var info = RunInfo(framework: "transformers")
        info.hparams.epochs = value["num_train_epochs"]?.int
        info.hparams.batchSize = value["train_batch_size"]?.int
        run.info = info
        return run
    }
}

extension RunBuilder {
    /// Appends a batch point from an importer; a missing step continues from the last one.
    mutating func appendBatch(epoch: Int, step: Int?, loss: Double) {
        let s = step ?? (run.batches.steps.last.map { Int($0) + 1 } ?? 0)
        appendBatchPoint(epoch: epoch, step: s, loss: loss)
    }
}

/// Parses a whole JSON document (a UTF-8 byte order mark allowed).
func parseJSONDocument(_ bytes: [UInt8], path: String) throws(ReadError) -> JSONValue {
    let body = bytes.droppingBOM
    switch body.withUnsafeBufferPointer({ JSONParser.parse($0) }) {
    case .success(let v): return v
    case .failure(let e): throw ReadError(path: path, problem: "is not valid JSON (\(e))")
    }
}

/// `json.dump(history.history)`: `{"loss": [...], "val_loss": [...]}`, or under `"history"`.
enum KerasHistoryLog: LogReading {
    static let format = LogFormat(name: "Keras History JSON", framework: "keras")
    static let usualNames: [String] = []
    static func recognizes(_ sample: LogSample) -> Bool {
        guard sample.firstNonSpace == UInt8(ascii: "{") else { return false }
        let text = sample.text
        return text.contains("loss\"") && text.contains("[")
    }
    static func follower(path: String, options: ReadOptions, followLinks: Bool) -> LogFollower {
        WholeFileFollower(path: path, format: format, followLinks: followLinks) { bytes throws(ReadError) in
            try Importers.kerasHistory(try parseJSONDocument(bytes, path: path), path: path)
        }
    }
}

/// Hugging Face `trainer_state.json` (rewritten whole at every checkpoint).
enum TrainerStateLog: LogReading {
    static let format = LogFormat(name: "Hugging Face trainer_state.json", framework: "transformers")
    static let usualNames = ["trainer_state.json"]
    static func recognizes(_ sample: LogSample) -> Bool {
        sample.firstNonSpace == UInt8(ascii: "{") && sample.text.contains("\"log_history\"")
    }
    static func follower(path: String, options: ReadOptions, followLinks: Bool) -> LogFollower {
        WholeFileFollower(path: path, format: format, followLinks: followLinks) { bytes throws(ReadError) in
            try Importers.trainerState(try parseJSONDocument(bytes, path: path), path: path)
        }
    }
}

/// TensorBoard event files (a logdir, or one file), each read incrementally.
enum TensorBoardLog: LogReading {
    static let format = LogFormat(name: "TensorBoard event files")
    static let usualNames: [String] = []
    static let isBinary = true
    static func recognizes(_ sample: LogSample) -> Bool {
        if sample.head.isEmpty { return TensorBoardLogdir.isEventFileName(sample.name) }
        // TFRecord framing: the first 8 bytes (a length) are followed by their masked CRC32C.
        return sample.head.withUnsafeBytes { TFRecordFraming.headerLength($0, at: 0) != nil }
            || (TensorBoardLogdir.isEventFileName(sample.name) && sample.head.count < TFRecordFraming.headerBytes)
    }
    static func follower(path: String, options: ReadOptions, followLinks: Bool) -> LogFollower { TensorBoardLogdir(path: path) }
}

extension TensorBoardLogdir: LogFollower {
    var watchedFiles: [String] { eventFiles }
}

extension LogFormat {
    public static var kerasCSV: LogFormat { KerasCSVLog.format }
    public static var kerasHistory: LogFormat { KerasHistoryLog.format }
    public static var huggingFaceTrainerState: LogFormat { TrainerStateLog.format }
    public static var lightningCSV: LogFormat { LightningCSVLog.format }
    public static var tensorBoard: LogFormat { TensorBoardLog.format }
    public static var printedLog: LogFormat { PrintedLog.format }
    public static var notebook: LogFormat { NotebookLog.format }
    public static var pandasHistoryCSV: LogFormat { PandasHistoryCSVLog.format }
    public static var fastaiCSV: LogFormat { FastaiCSVLog.format }
    public static var ultralyticsCSV: LogFormat { UltralyticsCSVLog.format }
}
