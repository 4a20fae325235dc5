/// Keeps the run of a TensorBoard logdir up to date as points arrive, without rebuilding it on
/// every poll: while a job trains, most polls bring only new per-step points (`Loss/train` at the
/// next steps), which are appended to the run's batch points. Anything else — a new series, a
/// per-epoch value, a restart replacing points, a series that might change level — rebuilds the
/// run whole with `TensorBoardMapping.build`, so both paths give the same run.
struct TensorBoardRunBuilder {
    private(set) var run = Run(format: .tensorBoard)
    private var layout: TensorBoardMapping.Layout?
    /// How many polls were answered by appending, and by a whole rebuild (for tests and the benchmark).
    private(set) var appends = 0
    private(set) var rebuilds = 0

    /// Brings the run up to date with `scalars`.
    mutating func update(from scalars: TensorBoardScalars) {
        if var layout, let (starts, fills) = Self.appendable(scalars, layout), fill(fills, from: scalars, layout) {
            let perStep = layout.perStep.map { (key: $0.key, series: scalars.series[$0.index], start: starts[$0.index]) }
            TensorBoardMapping.appendBatches(perStep, to: &run.batches, epochEnds: layout.epochEnds, epochNumbers: layout.epochNumbers)
            run.skippedLines = scalars.skipped
            run.lastSkipReason = scalars.lastSkipReason
            layout.counts = scalars.series.map(\.steps.count)
            layout.lastStep = max(layout.lastStep, run.batches.steps.last ?? .min)
            self.layout = layout
            appends += 1
            return
        }
        // Release the old run's columns first, so the rebuild does not hold two copies.
        run = Run(format: .tensorBoard)
        (run, layout) = TensorBoardMapping.build(from: scalars)
        rebuilds += 1
    }

    /// Puts values that arrived after the rest of their step (SummaryWriter writes one event per
    /// tag, and a poll may fall between them) into the last batch point, where it has none yet.
    /// False when one cannot be placed there: the run is rebuilt instead.
    private mutating func fill(_ fills: [Int], from scalars: TensorBoardScalars, _ layout: TensorBoardMapping.Layout) -> Bool {
        guard !fills.isEmpty else { return true }
        let keys = layout.perStep.map(\.key)
        guard Set(keys).count == keys.count else { return false }
        var batches = run.batches
        for k in fills {
            guard let key = layout.perStep.first(where: { $0.index == k })?.key else { return false }
            let value = scalars.series[k].values[layout.counts[k]]
            if key == "loss" {
                guard batches.loss.last?.isNaN == true else { return false }
                batches.setLastLoss(value)
            } else {
                guard let column = batches.metricNames.firstIndex(of: key), batches.metricColumns[column].last?.isNaN == true else { return false }
                batches.setMetric(at: column, value)
            }
        }
        run.batches = batches
        return true
    }

    /// Where each series' new points start, and the series whose first new point belongs in the
    /// last batch point, when the only change since `layout` was built is per-step points at or
    /// past the last one; nil when the run must be rebuilt. A per-step series stays per-step as it
    /// grows: its level is either written in its tag or decided by having many more points than
    /// the per-epoch series, which do not change here.
    private static func appendable(_ scalars: TensorBoardScalars, _ layout: TensorBoardMapping.Layout) -> (starts: [Int], fills: [Int])? {
        guard scalars.series.count == layout.uses.count, scalars.histogramRevision == layout.histogramRevision else { return nil }
        var starts = layout.counts
        var fills: [Int] = []
        for (k, s) in scalars.series.enumerated() {
            let before = layout.counts[k]
            switch layout.uses[k] {
            case .none:
                continue
            case .other:
                if s.steps.count != before || s.rewrites != layout.rewrites[k] || s.ignored { return nil }
            case .perStep:
                guard s.rewrites == layout.rewrites[k], s.steps.count >= before else { return nil }
                starts[k] = before
                guard s.steps.count > before else { continue }
                let first = s.steps[before]
                if first == layout.lastStep && first > layout.lastEpochStep {
                    fills.append(k)
                    starts[k] = before + 1
                } else if first <= layout.lastStep {
                    return nil
                }
            }
        }
        return (starts, fills)
    }
}
