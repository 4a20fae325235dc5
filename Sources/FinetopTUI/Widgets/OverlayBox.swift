/// A cleared, framed box over the dashboard with a title in its top edge (help, output).
/// A one-cell margin around it is cleared too, and the screen border's tees that led into it
/// become straight lines, so no piece of the panes' frames or rows shows beside the pop-up.
enum OverlayBox {
    static func draw(_ box: Rect, title: String, _ g: Glyphs, _ buf: inout ScreenBuffer) {
        clearMargin(around: box, g, &buf)
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

    /// Blanks the ring of cells around `box` inside the screen border; a border tee next to a
    /// blanked cell loses the arm that pointed into it.
    static func clearMargin(around box: Rect, _ g: Glyphs, _ buf: inout ScreenBuffer) {
        let w = buf.width, h = buf.height
        let ring = Rect(x: box.x - 1, y: box.y - 1, width: box.width + 2, height: box.height + 2)
        for y in max(1, ring.y)..<min(h - 1, ring.maxY) {
            for x in max(1, ring.x)..<min(w - 1, ring.maxX) {
                let inBox = x >= box.x && x < box.maxX && y >= box.y && y < box.maxY
                guard !inBox else { continue }
                buf.clear(Rect(x: x, y: y, width: 1, height: 1))
                if x == 1 { straighten(0, y, g.vertical, &buf) }
                if x == w - 2 { straighten(w - 1, y, g.vertical, &buf) }
                if y == 1 { straighten(x, 0, g.horizontal, &buf) }
                if y == h - 2 { straighten(x, h - 1, g.horizontal, &buf) }
            }
        }
        // A box that reaches the screen's border: the border's tees beside it point into the box.
        for y in max(0, box.y)..<min(h, box.maxY) {
            if box.x <= 1 { straighten(0, y, g.vertical, &buf) }
            if box.maxX >= w - 1 { straighten(w - 1, y, g.vertical, &buf) }
        }
        for x in max(0, box.x)..<min(w, box.maxX) {
            if box.y <= 1 { straighten(x, 0, g.horizontal, &buf) }
            if box.maxY >= h - 1 { straighten(x, h - 1, g.horizontal, &buf) }
        }
    }

    /// A tee on the screen border becomes the border's straight line.
    private static func straighten(_ x: Int, _ y: Int, _ line: Character, _ buf: inout ScreenBuffer) {
        guard x > 0 || y > 0, x < buf.width, y < buf.height else { return }
        let corner = (x == 0 || x == buf.width - 1) && (y == 0 || y == buf.height - 1)
        guard !corner, "├┤┬┴┼+".contains(buf[x, y].text) else { return }
        buf[x, y] = Cell(String(line), buf[x, y].style)
    }
}
