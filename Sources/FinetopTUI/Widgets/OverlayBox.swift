/// A cleared, framed box over the dashboard with a title in its top edge (help, output).
/// The box is cleared whole, wide characters under its edges included, so no frame debris shows.
enum OverlayBox {
    static func draw(_ box: Rect, title: String, _ g: Glyphs, _ buf: inout ScreenBuffer) {
        buf.clear(box)
        let st = Style(fg: .cyan, bold: true)
        for x in box.x..<box.maxX {
            buf.put(g.horizontal, x: x, y: box.y, style: st)
            buf.put(g.horizontal, x: x, y: box.maxY - 1, style: st)
        }
        for y in box.y..<box.maxY {
            buf.put(g.vertical, x: box.x, y: y, style: st)
            buf.put(g.vertical, x: box.maxX - 1, y: y, style: st)
        }
        buf.put(g.topLeft, x: box.x, y: box.y, style: st)
        buf.put(g.topRight, x: box.maxX - 1, y: box.y, style: st)
        buf.put(g.bottomLeft, x: box.x, y: box.maxY - 1, style: st)
        buf.put(g.bottomRight, x: box.maxX - 1, y: box.maxY - 1, style: st)
        buf.text(title, x: box.x + 2, y: box.y, style: st, maxWidth: box.width - 4)
    }
}
