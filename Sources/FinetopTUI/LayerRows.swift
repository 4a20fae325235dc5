import FinetopCore
import FinetopDiagnosis

/// One row of the layer table as shown: a layer, or a folded block standing for its layers.
enum LayerRow: Sendable, Equatable {
    /// The layer at this index of the model's layer list.
    case layer(Int)
    /// The block at this index of `LayerRows.blocks`, folded into one row.
    case block(Int)
}

/// The layer table's rows: the model's layers grouped into blocks (`LayerBlocks`), folded blocks
/// shown as one row each, in model order or sorted by update ratio. The cursor stays a layer
/// index (`AppState.cursor`): a folded block's row is where any of its layers' cursor shows, and
/// moving onto it puts the cursor on the block's first layer.
struct LayerRows: Sendable {
    let blocks: [LayerBlock]
    /// For every layer, the index of its block in `blocks`.
    let blockOf: [Int]
    let rows: [LayerRow]
    /// For every layer, the row that shows it (its own, or its folded block's).
    let rowOf: [Int]

    /// Rows for `layers`: blocks named in `folded` (with two rows or more) as one row each;
    /// `sortByRatio` orders the rows by their latest update ratio, largest first (NaN before
    /// everything, rows never measured last, ties in model order).
    init(layers: [Layer], folded: Set<String>, sortByRatio: Bool, stats: LayerStats) {
        let blocks = LayerBlocks.group(layers)
        var blockOf = [Int](repeating: 0, count: layers.count)
        var rows: [LayerRow] = []
        rows.reserveCapacity(layers.count)
        for (b, block) in blocks.enumerated() {
            for i in block.rows { blockOf[i] = b }
            if block.rows.count > 1 && folded.contains(block.name) {
                rows.append(.block(b))
            } else {
                rows.append(contentsOf: block.rows.map(LayerRow.layer))
            }
        }
        if sortByRatio {
            let keys = rows.map { row -> Double in
                let r: Double?
                switch row {
                case .layer(let i): r = stats.latest(layers[i].name)?.ratio
                case .block(let b): r = Self.blockRatio(blocks[b], layers, stats)
                }
                guard let r else { return -1 }
                return r.isNaN ? .infinity : r
            }
            let order = rows.indices.sorted { a, b in keys[a] != keys[b] ? keys[a] > keys[b] : a < b }
            rows = order.map { rows[$0] }
        }
        var rowOf = [Int](repeating: 0, count: layers.count)
        for (r, row) in rows.enumerated() {
            switch row {
            case .layer(let i): rowOf[i] = r
            case .block(let b): for i in blocks[b].rows { rowOf[i] = r }
            }
        }
        self.blocks = blocks
        self.blockOf = blockOf
        self.rows = rows
        self.rowOf = rowOf
    }

    var count: Int { rows.count }

    /// The row showing layer `i` (0 for an empty table).
    func row(ofLayer i: Int) -> Int { rowOf.indices.contains(i) ? rowOf[i] : 0 }

    /// The layer the cursor goes to on row `r`: the layer, or a folded block's first layer.
    func anchor(_ r: Int) -> Int {
        guard rows.indices.contains(r) else { return 0 }
        switch rows[r] {
        case .layer(let i): return i
        case .block(let b): return blocks[b].rows.lowerBound
        }
    }

    /// The folded block on row `r`, if that row is one.
    func foldedBlock(atRow r: Int) -> LayerBlock? {
        guard rows.indices.contains(r), case .block(let b) = rows[r] else { return nil }
        return blocks[b]
    }

    /// The block of layer `i`, when it has two rows or more (one that can fold).
    func foldableBlock(ofLayer i: Int) -> LayerBlock? {
        guard blockOf.indices.contains(i) else { return nil }
        let block = blocks[blockOf[i]]
        return block.rows.count > 1 ? block : nil
    }

    /// Names of the blocks that can fold (two rows or more).
    var foldableNames: Set<String> { Set(blocks.filter { $0.rows.count > 1 }.map(\.name)) }

    /// A folded block's ratio: the largest of its layers' latest ratios (NaN when one is NaN),
    /// so a block where anything moves does not read as still; nil when none was measured.
    static func blockRatio(_ block: LayerBlock, _ layers: [Layer], _ stats: LayerStats) -> Double? {
        var best: Double?
        for i in block.rows {
            guard let r = stats.latest(layers[i].name)?.ratio else { continue }
            if r.isNaN { return .nan }
            best = max(best ?? r, r)
        }
        return best
    }
}

/// The rows of the last state drawn or reduced, reused while the model, the folds, the order
/// and the stats stay the same (a frame must not regroup 100,000 layers).
public final class LayerRowsCache: @unchecked Sendable {
    struct Key: Equatable {
        var model: LayerWidths.Key
        var folded: Set<String>
        var sortByRatio: Bool
        /// Stats epochs logged and the latest: a new `layer_stats` line may reorder sorted rows.
        var statsEpochs: Int
        var statsLatest: Int?
    }

    private var key: Key?
    private var value: LayerRows?

    public init() {}

    func rows(_ s: AppState) -> LayerRows {
        let stats = s.run.layerStats
        let key = Key(model: LayerWidths.key(s.run), folded: s.folded, sortByRatio: s.sortByRatio,
                      statsEpochs: s.sortByRatio ? stats.epochs.count : 0, statsLatest: s.sortByRatio ? stats.latestEpoch : nil)
        if let value, key == self.key { return value }
        let rows = LayerRows(layers: s.layers, folded: s.folded, sortByRatio: s.sortByRatio, stats: stats)
        self.key = key
        value = rows
        return rows
    }
}

extension AppState {
    /// The layer table's rows for this state (cached).
    var layerRows: LayerRows { rowsCache.rows(self) }

    /// The row the cursor is on.
    var cursorRow: Int { layerRows.row(ofLayer: cursor) }

    /// The folded block the cursor is on, if any.
    var foldedBlockUnderCursor: LayerBlock? {
        let rows = layerRows
        return rows.foldedBlock(atRow: rows.row(ofLayer: cursor))
    }
}

// MARK: - Reducing: rows, folds, order

/// Moves the cursor `delta` rows (folded blocks and the sort order as shown).
func moveRow(_ s: inout AppState, by delta: Int) {
    moveRow(&s, to: s.cursorRow + delta)
}

/// Puts the cursor on row `r` (clamped).
func moveRow(_ s: inout AppState, to r: Int) {
    let rows = s.layerRows
    guard rows.count > 0 else { return }
    s.cursor = rows.anchor(max(0, min(r, rows.count - 1)))
    keepCursorVisible(&s)
}

/// Unfolds the block hiding layer `i` so the cursor can show it (a search match inside a fold).
func reveal(_ s: inout AppState, layer i: Int) {
    guard let block = s.layerRows.foldableBlock(ofLayer: i), s.folded.contains(block.name) else { return }
    s.folded.remove(block.name)
}

/// `z`: folds the block under the cursor, or unfolds it when folded.
func foldUnderCursor(_ s: inout AppState) {
    let rows = s.layerRows
    guard let block = rows.foldableBlock(ofLayer: s.cursor) else {
        if !s.layers.isEmpty {
            s.message = StatusMessage("\(s.layers[s.cursor].name) is a block by itself: nothing to fold")
        }
        return
    }
    if s.folded.contains(block.name) {
        s.folded.remove(block.name)
    } else {
        s.folded.insert(block.name)
        s.cursor = block.rows.lowerBound
    }
    keepCursorVisible(&s)
}

/// `Z`: folds every block, or unfolds them all when all are folded already.
func foldAll(_ s: inout AppState) {
    let foldable = s.layerRows.foldableNames
    guard !foldable.isEmpty else {
        s.message = StatusMessage("no blocks to fold: every layer is a block by itself")
        return
    }
    if foldable.isSubset(of: s.folded) {
        s.folded = []
        s.message = StatusMessage("unfolded \(foldable.count) blocks")
    } else {
        s.folded.formUnion(foldable)
        s.message = StatusMessage("folded \(foldable.count) blocks · z unfolds the one under the cursor, Z all")
        if let block = s.layerRows.foldableBlock(ofLayer: s.cursor) { s.cursor = block.rows.lowerBound }
    }
    keepCursorVisible(&s)
}

/// `O`: orders the rows by update ratio, or back to model order.
func toggleRatioOrder(_ s: inout AppState) {
    s.sortByRatio.toggle()
    s.message = StatusMessage(s.sortByRatio ? "rows by latest update ratio, largest first · O: model order" : "rows in model order")
    keepCursorVisible(&s)
}

/// Why `O` does nothing: no `layer_stats` line yet.
@Sendable func noLayerStats(_ s: AppState) -> StatusMessage? {
    guard s.run.layerStats.isEmpty, !s.sortByRatio else { return nil }
    return StatusMessage("no update ratios yet: the job writes layer_stats at each epoch end")
}

/// Space on a folded block: every layer of it with weights to one flag, in one revision. All
/// trainable → all frozen; otherwise (frozen or partly) → all trainable.
func toggleBlock(_ s: inout AppState, _ block: LayerBlock) -> [Effect] {
    let members = s.layers[block.rows].filter(\.hasWeights)
    guard !members.isEmpty else {
        s.message = StatusMessage("\(block.name) has no weights: nothing to freeze or train", .warning)
        return []
    }
    let want = !members.allSatisfy { s.shownFlag($0) }
    var change: [String: Bool] = [:]
    for l in members where s.shownFlag(l) != want { change[l.name] = want }
    return setTrainable(&s, change, describe: "\(want ? "unfreeze" : "freeze") block \(block.name) "
        + "(\(change.count) of \(block.rows.count) layers)")
}
