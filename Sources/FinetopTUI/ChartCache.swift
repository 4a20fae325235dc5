/// Per-batch values bucketed per dot column: min and max of each column, computed once and then
/// extended as batches arrive (only the columns that can have changed are recomputed).
public final class ChartCache: @unchecked Sendable {
    struct Key: Equatable {
        var metric: String
        var columns: Int
        var xMax: Double
        /// The first point's bits: a replaced file (a restarted job) is a different series.
        var first: UInt64
    }

    private var key: Key?
    private var count = 0
    private var lastRunEpoch = 0.0
    /// Epoch runs over the batch index: (epoch, first index, end index).
    private var runs: [(epoch: Int, start: Int, end: Int)] = []
    private var runsCount = 0
    private(set) var lo: [Double] = []
    private(set) var hi: [Double] = []
    /// Hits and full recomputes, for tests of the cache itself.
    public private(set) var fullRecomputes = 0

    public init() {}

    /// Brings the epoch runs up to date with `epochs` (append-only in practice; restarts rebuild).
    private func updateRuns(_ epochs: [Int32], count: Int) {
        if count < runsCount || (runsCount > 0 && runs.last.map { $0.end } != runsCount) {
            runs = []
            runsCount = 0
        }
        var i = runsCount
        while i < count {
            let e = Int(epochs[i])
            if var last = runs.last, last.epoch == e, last.end == i {
                last.end = i + 1
                runs[runs.count - 1] = last
            } else {
                runs.append((e, i, i + 1))
            }
            i += 1
        }
        runsCount = count
    }

    /// Batches per epoch for run `k`: its own count once finished, else the best estimate so far.
    private func perEpoch(_ k: Int) -> Int {
        let own = runs[k].end - runs[k].start
        if k < runs.count - 1 { return max(1, own) }
        let previous = k > 0 ? runs[k - 1].end - runs[k - 1].start : 0
        return max(1, own, previous)
    }

    /// Min/max per dot column of `values` over x in [0, xMax] epochs.
    func columns(values: [Double], epochs: [Int32], metric: String, columns n: Int, xMax: Double) -> (lo: [Double], hi: [Double]) {
        let newKey = Key(metric: metric, columns: n, xMax: xMax,
                         first: (values.first?.bitPattern ?? 0) ^ UInt64(bitPattern: Int64(epochs.first ?? 0)))
        let count = min(values.count, epochs.count)
        updateRuns(epochs, count: count)
        var fromColumn = 0
        if newKey == key && count >= self.count && lo.count == n && !runs.isEmpty {
            if count == self.count { return (lo, hi) }
            // Only the epoch that was last at the previous call (and later ones) can have moved:
            // its spacing is an estimate until the next epoch begins.
            fromColumn = max(0, column(ofX: lastRunEpoch, n: n, xMax: xMax) - 1)
        } else {
            fullRecomputes += 1
            lo = Array(repeating: .nan, count: n)
            hi = Array(repeating: .nan, count: n)
        }
        key = newKey
        self.count = count
        for c in fromColumn..<n { lo[c] = .nan; hi[c] = .nan }
        guard n > 0, xMax > 0 else { return (lo, hi) }
        values.withUnsafeBufferPointer { v in
            for k in runs.indices {
                let r = runs[k]
                let per = Double(perEpoch(k))
                guard column(ofX: Double(r.epoch) + Double(r.end - r.start) / per, n: n, xMax: xMax) >= fromColumn else { continue }
                var i = r.start
                while i < r.end {
                    let x = Double(r.epoch) + Double(i - r.start + 1) / per
                    let c = column(ofX: x, n: n, xMax: xMax)
                    // All indices that fall into column c.
                    let xEnd = (Double(c) + 1) / Double(n) * xMax
                    var j = r.start + Int(((xEnd - Double(r.epoch)) * per).rounded(.up)) - 1
                    j = max(i + 1, min(j, r.end))
                    if c >= fromColumn && c < n {
                        var mn = lo[c], mx = hi[c]
                        for t in i..<j {
                            let y = v[t]
                            if y.isFinite {
                                if !(y >= mn) { mn = y }
                                if !(y <= mx) { mx = y }
                            }
                        }
                        lo[c] = mn
                        hi[c] = mx
                    }
                    i = j
                }
            }
        }
        if let last = runs.last { lastRunEpoch = Double(last.epoch) }
        return (lo, hi)
    }

    private func column(ofX x: Double, n: Int, xMax: Double) -> Int {
        guard xMax > 0 else { return 0 }
        return max(0, min(n - 1, Int((x / xMax * Double(n)).rounded(.down) - (x >= xMax ? 1 : 0))))
    }

    /// The epoch axis needs to reach the batches too (a run in its first epoch has no epoch lines).
    func batchExtent(_ epochs: [Int32]) -> Double {
        updateRuns(epochs, count: epochs.count)
        guard let k = runs.indices.last else { return 0 }
        let r = runs[k]
        return Double(r.epoch) + Double(r.end - r.start) / Double(perEpoch(k))
    }
}
