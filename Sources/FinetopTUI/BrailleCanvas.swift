/// A grid of braille cells, each 2×4 dots. Every dot remembers the most important series drawn
/// there so a cell takes that series' color.
struct BrailleCanvas {
    let cols: Int
    let rows: Int
    var bits: [UInt8]
    var layer: [Int8]

    init(cols: Int, rows: Int) {
        self.cols = max(0, cols)
        self.rows = max(0, rows)
        bits = Array(repeating: 0, count: self.cols * self.rows)
        layer = Array(repeating: -1, count: self.cols * self.rows)
    }

    var dotWidth: Int { cols * 2 }
    var dotHeight: Int { rows * 4 }

    private static let dotBits: [[UInt8]] = [[0x01, 0x02, 0x04, 0x40], [0x08, 0x10, 0x20, 0x80]]

    mutating func set(_ px: Int, _ py: Int, layer l: Int8) {
        guard px >= 0, py >= 0, px < dotWidth, py < dotHeight else { return }
        let i = (py / 4) * cols + px / 2
        bits[i] |= Self.dotBits[px & 1][py & 3]
        if l > layer[i] { layer[i] = l }
    }

    /// A straight line in dot space (Bresenham).
    mutating func line(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, layer l: Int8) {
        var x = x0, y = y0
        let dx = abs(x1 - x0), dy = -abs(y1 - y0)
        let sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1
        var err = dx + dy
        var guardSteps = dx - dy + 2
        while guardSteps > 0 {
            set(x, y, layer: l)
            if x == x1 && y == y1 { break }
            let e2 = 2 * err
            if e2 >= dy { err += dy; x += sx }
            if e2 <= dx { err += dx; y += sy }
            guardSteps -= 1
        }
    }

    /// A vertical run of dots in one column (a min/max bucket).
    mutating func column(_ px: Int, from y0: Int, to y1: Int, layer l: Int8) {
        let lo = max(0, min(y0, y1)), hi = min(dotHeight - 1, max(y0, y1))
        guard lo <= hi else { return }
        for y in lo...hi { set(px, y, layer: l) }
    }
}
