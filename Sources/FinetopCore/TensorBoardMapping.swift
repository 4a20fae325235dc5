/// Maps TensorBoard scalar series onto finetop's run model: the spellings frameworks use for
/// training and validation values become `loss`/`val_loss`/`accuracy`/`val_accuracy`, per-epoch
/// series become epoch records, per-step ones batch points, and every other tag an extra metric.
enum TensorBoardMapping {
    enum Level: Equatable { case epoch, step, unknown }

    enum Role: Equatable {
        case metric
        /// Keras's `evaluation_<name>_vs_iterations`: the optimizer step at each epoch's validation.
        case iterationsAtEpochEnd
        /// An `epoch` counter logged against the step (Lightning, Hugging Face): not a metric.
        case epochCounter
    }

    /// What one (run, tag) pair means.
    struct Meaning: Equatable {
        var key: String
        var level: Level
        var role: Role = .metric
    }

    static let trainWords: Set<String> = ["train", "training"]
    static let validationWords: Set<String> = ["val", "valid", "validation", "eval", "evaluation", "test", "dev"]

    /// `train/epoch_loss` → loss per epoch; `validation/epoch_accuracy` → val_accuracy per epoch;
    /// `Loss/train`, `train_loss`, `train/loss` → loss; `Loss/val`, `loss/validation`, `val_loss`,
    /// `eval/loss`, `Loss/test` → val_loss; `train_loss_step` → loss per step; others as written.
    static func meaning(run: String, tag: String) -> Meaning {
        var validation: Bool?
        var level = Level.unknown
        for component in run.split(separator: "/") {
            if let split = splitWord(String(component)) { validation = split }
        }
        var parts: [String] = []
        for component in tag.split(separator: "/").map(String.init) {
            let lower = component.lowercased()
            if let split = splitWord(lower) {
                validation = split
            } else if ["iter", "iteration", "iterations", "step", "steps", "batch"].contains(lower) {
                level = .step
            } else {
                parts.append(component)
            }
        }
        if parts.isEmpty { return Meaning(key: "", level: level) }
        var name = parts.joined(separator: "/")
        if parts.count == 1 {
            let lower = name.lowercased()
            if lower.hasPrefix("evaluation_") && lower.hasSuffix("_vs_iterations") {
                return Meaning(key: "", level: .step, role: .iterationsAtEpochEnd)
            }
            if lower.hasPrefix("epoch_") {
                level = .epoch
                name.removeFirst(6)
            } else if lower.hasPrefix("batch_") {
                level = .step
                name.removeFirst(6)
            } else if lower.hasSuffix("_step") {
                level = .step
                name.removeLast(5)
            } else if lower.hasSuffix("_epoch") {
                level = .epoch
                name.removeLast(6)
            }
            if let (rest, split) = splitAffix(name) {
                name = rest
                validation = split
            }
        }
        let canonical = canonicalName(name)
        if canonical == "epoch" { return Meaning(key: "", level: .step, role: .epochCounter) }
        return Meaning(key: validation == true ? "val_" + canonical : canonical, level: level)
    }

    /// true for a validation word, false for a training word, nil otherwise; also the
    /// `Accuracy_train` directories torch's `add_scalars` makes.
    static func splitWord(_ word: String) -> Bool? {
        let lower = word.lowercased()
        if trainWords.contains(lower) { return false }
        if validationWords.contains(lower) { return true }
        if let underscore = lower.lastIndex(of: "_") {
            let suffix = String(lower[lower.index(after: underscore)...])
            if trainWords.contains(suffix) { return false }
            if validationWords.contains(suffix) { return true }
        }
        return nil
    }

    /// `train_loss` → (loss, false), `val_acc` → (acc, true), `loss_val` → (loss, true).
    static func splitAffix(_ name: String) -> (String, Bool)? {
        let lower = name.lowercased()
        for (word, isValidation) in trainWords.map({ ($0, false) }) + validationWords.map({ ($0, true) }) {
            if lower.hasPrefix(word + "_") && lower.count > word.count + 1 {
                return (String(name.dropFirst(word.count + 1)), isValidation)
            }
            if lower.hasSuffix("_" + word) && lower.count > word.count + 1 {
                return (String(name.dropLast(word.count + 1)), isValidation)
            }
        }
        return nil
    }

    static func canonicalName(_ name: String) -> String {
        switch name.lowercased() {
        case "loss": return "loss"
        case "acc", "accuracy": return "accuracy"
        case "lr", "learning_rate", "learning-rate", "learningrate": return "learning_rate"
        case "epoch": return "epoch"
        default: return name
        }
    }

    /// A train series with this many points and no per-epoch series beside it is per step.
    static let epochLikeLimit = 1000

    /// Builds the run from the series read so far.
    static func run(from scalars: TensorBoardScalars) -> Run { build(from: scalars).run }

    /// What a build decided, for `TensorBoardRunBuilder` to tell whether new points only extend it.
    struct Layout {
        /// How each series was used, by index in `scalars.series`.
        enum Use: Equatable {
            /// Its points never change the run (another plugin's tag, Lightning's `epoch` counter).
            case none
            /// Per-step: its points are batch points.
            case perStep
            /// Anything else (per-epoch values, Keras's evaluation steps, a series not yet classified).
            case other
        }
        var uses: [Use] = []
        var counts: [Int] = []
        var rewrites: [Int] = []
        /// The per-step series as `batches` takes them.
        var perStep: [(key: String, index: Int)] = []
        var epochEnds: [Int64] = []
        var epochNumbers: [Int] = []
        /// Every step the build looked at is at or before this one (last batch, epoch end or anchor).
        var lastStep = Int64.min
        /// The last epoch end or per-epoch point: a step after it falls in no finished epoch.
        var lastEpochStep = Int64.min
        /// The weight histograms the build saw.
        var histogramRevision = 0
    }

    /// Builds the run and says how it was laid out.
    static func build(from scalars: TensorBoardScalars) -> (run: Run, layout: Layout) {
        var layout = Layout()
        layout.uses = scalars.series.map { $0.ignored ? .none : .other }
        layout.counts = scalars.series.map(\.steps.count)
        layout.rewrites = scalars.series.map(\.rewrites)
        var run = Run(format: .tensorBoard)
        run.skippedLines = scalars.skipped
        run.lastSkipReason = scalars.lastSkipReason

        struct Classified { var series: TensorBoardScalars.Series; var meaning: Meaning; var index: Int }
        var all: [Classified] = []
        var iterationsAtEpochEnd: [Int64] = []
        for (index, s) in scalars.series.enumerated() where !s.ignored {
            let m = meaning(run: s.run, tag: s.tag)
            switch m.role {
            case .iterationsAtEpochEnd:
                if s.steps.count > iterationsAtEpochEnd.count { iterationsAtEpochEnd = s.steps }
            case .epochCounter:
                layout.uses[index] = .none
            case .metric:
                if m.key.isEmpty {
                    layout.uses[index] = .none
                } else if !s.steps.isEmpty {
                    all.append(Classified(series: s, meaning: m, index: index))
                }
            }
        }
        // A validation series without a level is per epoch (evaluations are); a training series is
        // per epoch when it has about as many points as the per-epoch series, else per step.
        for k in all.indices where all[k].meaning.level == .unknown && all[k].meaning.key.hasPrefix("val_") {
            all[k].meaning.level = .epoch
        }
        let epochPoints = all.filter { $0.meaning.level == .epoch }.map(\.series.steps.count).max()
        let anchors = Set(all.filter { $0.meaning.level == .epoch }.flatMap(\.series.steps))
        for k in all.indices where all[k].meaning.level == .unknown {
            let n = all[k].series.steps.count
            if let epochPoints {
                // Logged mostly at other steps than the epochs (Hugging Face's train/loss every
                // logging_steps): per step, so its epoch value is the mean over the epoch.
                let shared = all[k].series.steps.reduce(0) { $0 + (anchors.contains($1) ? 1 : 0) }
                let atEpochs = Double(n) <= Double(epochPoints) * 1.5 && 2 * shared >= n
                all[k].meaning.level = atEpochs ? .epoch : .step
            } else {
                all[k].meaning.level = n <= epochLikeLimit ? .epoch : .step
            }
        }
        if all.contains(where: { $0.series.tag.lowercased().hasPrefix("epoch_") }) {
            run.info = RunInfo(framework: "keras")
        }

        let perEpoch = all.filter { $0.meaning.level == .epoch }
        let perStep = all.filter { $0.meaning.level == .step }

        // Epoch boundaries: the steps the per-epoch series were logged at.
        var boundarySet = Set<Int64>()
        for c in perEpoch { boundarySet.formUnion(c.series.steps) }
        let boundaries = boundarySet.sorted()
        // Keras logs epochs against the epoch number; others against the global step.
        let first = boundaries.first ?? 0
        let stepsAreEpochs = !boundaries.isEmpty && (first == 0 || first == 1)
            && boundaries.last == first + Int64(boundaries.count - 1)
        // The optimizer step at each epoch's end: Keras's evaluations say it; without validation,
        // the last batch logged before each epoch_* point.
        var epochEndSteps: [Int64]?
        if stepsAreEpochs {
            if iterationsAtEpochEnd.count == boundaries.count {
                epochEndSteps = iterationsAtEpochEnd
            } else if let keras = perEpoch.first(where: { $0.series.arrivals.count == boundaries.count && $0.series.steps == boundaries }),
                      keras.series.arrivals.allSatisfy({ $0 > 0 }) {
                epochEndSteps = keras.series.arrivals
            }
        }
        var records: [EpochRecord] = []
        records.reserveCapacity(boundaries.count)
        var slot: [Int64: Int] = [:]
        for (i, b) in boundaries.enumerated() {
            let epoch = stepsAreEpochs ? Int(b - first) : i
            let globalStep: Int? = stepsAreEpochs ? epochEndSteps.map { Int($0[i]) } : Int(b)
            records.append(EpochRecord(epoch: epoch, step: globalStep, values: [:]))
            slot[b] = i
        }
        for c in perEpoch {
            for (s, v) in zip(c.series.steps, c.series.values) {
                if let i = slot[s] { records[i].values[c.meaning.key] = v }
            }
        }
        // Where a step is known for each epoch, a value logged only per step stands for its epoch
        // as the mean over the epoch's steps, as Keras reports it.
        let epochEnds: [Int64]? = records.allSatisfy { $0.step != nil } ? records.compactMap { $0.step.map(Int64.init) } : nil
        if let epochEnds, !epochEnds.isEmpty {
            for c in perStep where !records.contains(where: { $0.values[c.meaning.key] != nil }) {
                var e = 0
                var sum = 0.0
                var count = 0
                for (s, v) in zip(c.series.steps, c.series.values) {
                    while e < epochEnds.count && s > epochEnds[e] {
                        if count > 0 { records[e].values[c.meaning.key] = sum / Double(count) }
                        e += 1
                        sum = 0
                        count = 0
                    }
                    if e == epochEnds.count { break }
                    sum += v
                    count += 1
                }
                if e < epochEnds.count && count > 0 { records[e].values[c.meaning.key] = sum / Double(count) }
            }
        }
        run.epochs = records.filter { !$0.values.isEmpty }
        layout.histogramRevision = scalars.histogramRevision
        if !scalars.histograms.isEmpty {
            // A histogram's step is in the scalars' numbering: the epoch number when epochs are
            // logged against it, else a global step that falls in the epoch ending at or after it.
            let ends = records.compactMap { r in r.step.map { (Int64($0), r.epoch) } }
            run.layerStats = TensorBoardHistograms.layerStats(scalars.histograms) { s in
                if stepsAreEpochs { return s >= first ? Int(s - first) : nil }
                if !ends.isEmpty { return ends.first { $0.0 >= s }?.1 ?? (ends[ends.count - 1].1 + 1) }
                return s >= 0 && s <= Int64(Int32.max) ? Int(s) : nil
            }
        }
        layout.epochEnds = epochEnds ?? []
        layout.epochNumbers = records.map(\.epoch)
        layout.perStep = perStep.map { ($0.meaning.key, $0.index) }
        for c in perStep { layout.uses[c.index] = .perStep }
        run.batches = batches(perStep.map { ($0.meaning.key, $0.series) }, epochEnds: layout.epochEnds,
                              epochNumbers: layout.epochNumbers)
        layout.lastEpochStep = max(layout.epochEnds.last ?? .min, boundaries.last ?? .min)
        layout.lastStep = max(run.batches.steps.last ?? .min, layout.lastEpochStep)
        return (run, layout)
    }

    /// Batch points over the union of the per-step series' steps, `loss` as the batch loss (NaN
    /// where a step has none) and the rest as batch metrics; a step's epoch is the first epoch
    /// whose last step is at or after it.
    static func batches(_ series: [(key: String, series: TensorBoardScalars.Series)], epochEnds: [Int64], epochNumbers: [Int]) -> BatchSeries {
        var out = BatchSeries()
        appendBatches(series.map { ($0.key, $0.series, 0) }, to: &out, epochEnds: epochEnds, epochNumbers: epochNumbers)
        return out
    }

    /// Appends the batch points of the series' points from `start` on (each series' new points are
    /// past every step already in `out`); `batches` is this from the start.
    static func appendBatches(_ series: [(key: String, series: TensorBoardScalars.Series, start: Int)], to out: inout BatchSeries,
                              epochEnds: [Int64], epochNumbers: [Int]) {
        guard !series.isEmpty else { return }
        let ordered = series.sorted { ($0.key != "loss" ? 1 : 0, $0.key) < ($1.key != "loss" ? 1 : 0, $1.key) }
        func tail(_ k: Int) -> ArraySlice<Int64> { ordered[k].series.steps[ordered[k].start...] }
        var steps = Array(tail(0))
        for k in ordered.indices.dropFirst() where !tail(k).elementsEqual(steps) {
            steps = mergedUnion(steps[...], tail(k))
        }
        out.reserveCapacity(out.count + steps.count)
        let lossIndex = ordered[0].key == "loss" ? 0 : -1
        let columns = ordered.indices.map { $0 == lossIndex ? -1 : out.metricIndex(ordered[$0].key) }
        var cursor = ordered.map(\.start)
        // Steps only grow, so each series is walked once.
        func value(of k: Int, at s: Int64) -> Double? {
            let st = ordered[k].series.steps
            var c = cursor[k]
            while c < st.count && st[c] < s { c += 1 }
            cursor[k] = c
            return c < st.count && st[c] == s ? ordered[k].series.values[c] : nil
        }
        var e = 0
        let afterLast = (epochNumbers.last ?? -1) + 1
        for s in steps {
            while e < epochEnds.count && s > epochEnds[e] { e += 1 }
            var loss = Double.nan
            if lossIndex == 0, let v = value(of: 0, at: s) { loss = v }
            out.append(epoch: e < epochNumbers.count ? epochNumbers[e] : afterLast, step: Int(s), loss: loss)
            for k in ordered.indices where k != lossIndex {
                if let v = value(of: k, at: s) { out.setMetric(at: columns[k], v) }
            }
        }
        out.alignMetrics()
    }

    /// The sorted union of two strictly increasing step lists, in one pass.
    static func mergedUnion(_ a: [Int64], _ b: [Int64]) -> [Int64] { mergedUnion(a[...], b[...]) }

    static func mergedUnion(_ a: ArraySlice<Int64>, _ b: ArraySlice<Int64>) -> [Int64] {
        var out: [Int64] = []
        out.reserveCapacity(max(a.count, b.count))
        var i = a.startIndex, j = b.startIndex
        while i < a.endIndex && j < b.endIndex {
            if a[i] < b[j] {
                out.append(a[i]); i += 1
            } else if b[j] < a[i] {
                out.append(b[j]); j += 1
            } else {
                out.append(a[i]); i += 1; j += 1
            }
        }
        out.append(contentsOf: a[i...])
        out.append(contentsOf: b[j...])
        return out
    }
}
