/// The outer border and the dividers between panes, from the layout.
enum Frame {
    static func draw(_ s: AppState, _ l: Layout, _ buf: inout ScreenBuffer) {
        let g = Glyphs(ascii: s.options.ascii)
        let st = Style(fg: .gray)
        let w = buf.width, h = buf.height
        for x in 0..<w {
            buf.put(g.horizontal, x: x, y: 0, style: st)
            buf.put(g.horizontal, x: x, y: h - 1, style: st)
        }
        for y in 0..<h {
            buf.put(g.vertical, x: 0, y: y, style: st)
            buf.put(g.vertical, x: w - 1, y: y, style: st)
            buf.put(g.vertical, x: l.dividerX, y: y, style: st)
        }
        for x in l.left.x..<l.left.maxX { buf.put(g.horizontal, x: x, y: l.leftDividerY, style: st) }
        for x in l.right.x..<l.right.maxX { buf.put(g.horizontal, x: x, y: l.rightDividerY, style: st) }
        buf.put(g.topLeft, x: 0, y: 0, style: st)
        buf.put(g.topRight, x: w - 1, y: 0, style: st)
        buf.put(g.bottomLeft, x: 0, y: h - 1, style: st)
        buf.put(g.bottomRight, x: w - 1, y: h - 1, style: st)
        buf.put(g.teeDown, x: l.dividerX, y: 0, style: st)
        buf.put(g.teeUp, x: l.dividerX, y: h - 1, style: st)
        buf.put(g.teeRight, x: 0, y: l.leftDividerY, style: st)
        buf.put(g.teeLeft, x: l.dividerX, y: l.leftDividerY, style: st)
        buf.put(g.teeRight, x: l.dividerX, y: l.rightDividerY, style: st)
        buf.put(g.teeLeft, x: w - 1, y: l.rightDividerY, style: st)
        if l.leftDividerY == l.rightDividerY {
            buf.put(s.options.ascii ? "+" : "┼", x: l.dividerX, y: l.leftDividerY, style: st)
        }
    }
}
