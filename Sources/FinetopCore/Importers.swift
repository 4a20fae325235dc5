/// Reads logs written by other tools into the same `Run` model. View and diagnose only:
/// these runs accept no control.
enum Importers {
    // MARK: Keras CSVLogger

    /// `epoch,accuracy,loss,val_accuracy,val_loss` — one row per epoch, 0-based epoch first.
    static func kerasCSV(_ table: CSVTable, path: String) throws(ReadError) -> Run {
        guard let epochColumn = table.header.firstIndex(of: "epoch") else {
            throw ReadError(path: path, problem: "is a CSV without an \"epoch\" column, expected a Keras CSVLogger file")
        }
        var builder = RunBuilder(format: .kerasCSV)
        for (n, row) in table.rows.enumerated() {
            guard row.count == table.header.count,
                  let e = CSVTable.number(row[epochColumn])?.wholeInt, e >= 0
            else {
                builder.skip("row \(n + 2) does not match the header")
                continue
            }
            var values: [String: Double] = [:]
            for (k, name) in table.header.enumerated() where k != epochColumn {
                if let v = CSVTable.number(row[k]) { values[name] = v }
            }
            builder.addEpoch(EpochRecord(epoch: e, values: values))
        }
        return builder.snapshot
    }

    // MARK: PyTorch Lightning CSVLogger

    /// `metrics.csv`: `epoch,step` plus one column per logged name; training and validation
    /// values sit on different rows, empty cells elsewhere. `train_loss_step` / `train_loss_epoch`
    /// appear when a value is logged with both `on_step` and `on_epoch`.
    static func lightningCSV(_ table: CSVTable, path: String) throws(ReadError) -> Run {
        guard let epochColumn = table.header.firstIndex(of: "epoch") else {
            throw ReadError(path: path, problem: "is a CSV without an \"epoch\" column, expected a Lightning metrics.csv")
        }
        let stepColumn = table.header.firstIndex(of: "step")
        var builder = RunBuilder(format: .lightningCSV)
        struct Accumulator { var sums: [String: (Double, Int)] = [:]; var last: [String: Double] = [:]; var step: Int? }
        var byEpoch: [Int: Accumulator] = [:]
        var order: [Int] = []
        for (n, row) in table.rows.enumerated() {
            guard row.count == table.header.count, let epoch = CSVTable.number(row[epochColumn])?.wholeInt, epoch >= 0 else {
                builder.skip("row \(n + 2) does not match the header")
                continue
            }
            let step = stepColumn.flatMap { CSVTable.number(row[$0]) }.flatMap(\.wholeInt)
            if byEpoch[epoch] == nil { order.append(epoch); byEpoch[epoch] = Accumulator() }
            for (k, column) in table.header.enumerated() where k != epochColumn && k != stepColumn {
                guard let v = CSVTable.number(row[k]) else { continue }
                switch lightningName(column) {
                case .step(let name):
                    if name == "loss" { builder.appendBatch(epoch: epoch, step: step, loss: v) }
                    let s = byEpoch[epoch]?.sums[name] ?? (0, 0)
                    byEpoch[epoch]?.sums[name] = (s.0 + v, s.1 + 1)
                case .epoch(let name):
                    byEpoch[epoch]?.last[name] = v
                }
            }
            if let step {
                let known = byEpoch[epoch]?.step ?? step
                byEpoch[epoch]?.step = max(known, step)
            }
        }
        for epoch in order.sorted() {
            guard let acc = byEpoch[epoch] else { continue }
            var values = acc.last
            // A value logged only per step stands for its epoch as the mean over the epoch, as Keras reports it.
            for (name, (sum, count)) in acc.sums where values[name] == nil && count > 0 {
                values[name] = sum / Double(count)
            }
            guard !values.isEmpty else { continue }
            builder.addEpoch(EpochRecord(epoch: epoch, step: acc.step, values: values))
        }
        return builder.snapshot
    }

    enum LightningColumn: Equatable { case step(String), epoch(String) }

    /// `train_loss_step` → per-step `loss`; `train_acc_epoch` → epoch `acc`; `val_loss` → epoch `val_loss`;
    /// `valid_acc` / `validation_acc` → `val_acc`; plain `train_loss` is per step.
    static func lightningName(_ column: String) -> LightningColumn {
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
        var builder = RunBuilder(format: .kerasHistory)
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
    /// without evaluations, one record per whole epoch.
    static func trainerState(_ value: JSONValue, path: String) throws(ReadError) -> Run {
        guard let history = value["log_history"]?.array else {
            throw ReadError(path: path, problem: "is JSON without \"log_history\", expected a Hugging Face trainer_state.json")
        }
        var builder = RunBuilder(format: .huggingFaceTrainerState)
        var trainSum = 0.0, trainCount = 0
        var lastTrainEpoch: Int?
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
                if evalCount == 0, let last = lastTrainEpoch, epoch != last {
                    flushTrain(epoch: last, step: step, into: &builder)
                }
                trainSum += loss
                trainCount += 1
                lastTrainEpoch = epoch
                lastLR = entry["learning_rate"]?.double ?? lastLR
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
        if evalCount == 0, let last = lastTrainEpoch { flushTrain(epoch: last, step: nil, into: &builder) }
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
