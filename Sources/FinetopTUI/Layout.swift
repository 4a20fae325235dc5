/// How much of a row or column a pane takes (ratatui's `Constraint`).
public enum Constraint: Sendable, Equatable {
    /// Exactly this many cells (less only when the space runs out).
    case length(Int)
    /// At least this many, and a share of what is left over.
    case min(Int)
    /// A share of what is left over.
    case fill
}

extension Rect {
    public enum Direction: Sendable { case horizontal, vertical }

    /// Splits the rectangle along `direction`: fixed lengths first, the rest shared by `.min` and
    /// `.fill` parts; `spacing` cells between parts (for dividers). Later parts shrink first
    /// when the space is short.
    public func split(_ direction: Direction, _ constraints: [Constraint], spacing: Int = 0) -> [Rect] {
        let total = direction == .horizontal ? width : height
        var sizes = constraints.map { c -> Int in
            switch c {
            case .length(let n), .min(let n): return Swift.max(0, n)
            case .fill: return 0
            }
        }
        var left = total - sizes.reduce(0, +) - spacing * Swift.max(0, constraints.count - 1)
        let growing = constraints.indices.filter { i in
            switch constraints[i] {
            case .length: return false
            case .min, .fill: return true
            }
        }
        if left > 0 && !growing.isEmpty {
            for (k, i) in growing.enumerated() { sizes[i] += left / growing.count + (k < left % growing.count ? 1 : 0) }
            left = 0
        }
        var i = sizes.count - 1
        while left < 0 && i >= 0 {
            let take = Swift.min(sizes[i], -left)
            sizes[i] -= take
            left += take
            i -= 1
        }
        var out: [Rect] = []
        var at = direction == .horizontal ? x : y
        for n in sizes {
            out.append(direction == .horizontal ? Rect(x: at, y: y, width: n, height: height) : Rect(x: x, y: at, width: width, height: n))
            at += n + spacing
        }
        return out
    }
}

/// Where each panel goes for a terminal size, from constraints. Pure arithmetic, shared by render
/// and reduce (the reducer needs the table height for paging).
public struct Layout: Sendable, Equatable {
    public static let minWidth = 60
    public static let minHeight = 16
    /// The chart keeps at least this many columns when the layer pane grows for long names.
    public static let chartMinWidth = 80

    public let width: Int
    public let height: Int
    public var tooSmall: Bool { width < Self.minWidth || height < Self.minHeight }

    /// Inside the outer border, left pane.
    public let left: Rect
    public let right: Rect
    /// Column of the vertical divider.
    public let dividerX: Int
    /// Layer table including its column header row.
    public let table: Rect
    public let totals: Rect
    /// Row of the left pane's horizontal divider.
    public let leftDividerY: Int
    public let chart: Rect
    public let diagnosis: Rect
    public let rightDividerY: Int
    /// The row under the frame's bottom edge where the key bar or status line goes.
    public let bottomBar: Rect

    public static let totalsRows = 4

    /// - Parameter tableWants: the columns the layer table needs to show every name and class whole;
    ///   the left pane grows to it on a wide screen, leaving the chart `chartMinWidth`.
    /// - Parameter totalsHeight: rows of the totals pane (`TotalsView.rows`: more once a Keras
    ///   job reports its optimizer's params).
    public init(width: Int, height: Int, tableWants: Int = 0, totalsHeight: Int = Layout.totalsRows) {
        self.width = width
        self.height = height
        let inner = Rect(x: 1, y: 1, width: width - 2, height: height - 2)
        let leftW: Int
        if width < 100 {
            leftW = max(20, (width - 3) / 2)
        } else {
            let base = min(76, max(48, (width - 3) * 2 / 5))
            leftW = max(base, min(tableWants, width - 3 - Self.chartMinWidth))
        }
        let panes = inner.split(.horizontal, [.length(leftW), .fill], spacing: 1)
        left = panes[0]
        right = panes[1]
        dividerX = left.maxX
        let leftParts = left.split(.vertical, [.fill, .length(totalsHeight)], spacing: 1)
        table = leftParts[0]
        totals = leftParts[1]
        leftDividerY = table.maxY
        let diagH = min(14, max(6, (inner.height - 1) * 2 / 5))
        let rightParts = right.split(.vertical, [.fill, .length(diagH)], spacing: 1)
        chart = rightParts[0]
        diagnosis = rightParts[1]
        rightDividerY = chart.maxY
        bottomBar = Rect(x: 2, y: height - 1, width: width - 4, height: 1)
    }

    /// The layout for a state: its screen, its table's wanted width and its totals' rows (render
    /// and reducer must agree on the table's height, so both take it from here).
    init(for s: AppState) {
        self.init(width: s.width, height: s.height, tableWants: LayerTableView.wantedWidth(s.layerWidths, stats: !s.run.layerStats.isEmpty),
                  totalsHeight: TotalsView.rows(s, screenHeight: s.height))
    }

    /// Layer rows visible at once (the table's first row is its column header).
    public var tableRows: Int { max(1, table.height - 1) }
}
