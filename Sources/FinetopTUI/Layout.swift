/// Where each panel goes for a terminal size. Pure arithmetic, shared by render and reduce
/// (the reducer needs the table height for paging).
public struct Layout: Sendable, Equatable {
    public static let minWidth = 60
    public static let minHeight = 16

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

    public static let totalsRows = 4

    public init(width: Int, height: Int) {
        self.width = width
        self.height = height
        let innerH = max(0, height - 2)
        let leftW: Int
        if width < 100 {
            leftW = max(20, (width - 3) / 2)
        } else {
            leftW = min(76, max(48, (width - 3) * 2 / 5))
        }
        left = Rect(x: 1, y: 1, width: leftW, height: innerH)
        dividerX = 1 + leftW
        right = Rect(x: dividerX + 1, y: 1, width: max(0, width - leftW - 3), height: innerH)
        let tableH = max(0, innerH - Self.totalsRows - 1)
        table = Rect(x: left.x, y: left.y, width: left.width, height: tableH)
        leftDividerY = left.y + tableH
        totals = Rect(x: left.x, y: leftDividerY + 1, width: left.width, height: Self.totalsRows)
        let diagH = min(14, max(6, (innerH - 1) * 2 / 5))
        let chartH = max(0, innerH - diagH - 1)
        chart = Rect(x: right.x, y: right.y, width: right.width, height: chartH)
        rightDividerY = right.y + chartH
        diagnosis = Rect(x: right.x, y: rightDividerY + 1, width: right.width, height: diagH)
    }

    /// Layer rows visible at once (the table's first row is its column header).
    public var tableRows: Int { max(1, table.height - 1) }
}
