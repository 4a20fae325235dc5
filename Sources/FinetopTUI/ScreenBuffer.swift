/// A terminal color. `.none` leaves the terminal's own default.
public enum TermColor: UInt8, Sendable, Hashable, CaseIterable {
    case none, black, red, green, yellow, blue, magenta, cyan, white, gray
}

/// How a cell looks: colors plus attributes that still work without color (bold, reverse, …).
public struct Style: Sendable, Hashable {
    public var fg: TermColor = .none
    public var bg: TermColor = .none
    public var bold = false
    public var dim = false
    public var reverse = false
    public var underline = false

    public init(fg: TermColor = .none, bg: TermColor = .none, bold: Bool = false, dim: Bool = false,
                reverse: Bool = false, underline: Bool = false) {
        self.fg = fg
        self.bg = bg
        self.bold = bold
        self.dim = dim
        self.reverse = reverse
        self.underline = underline
    }

    public static let plain = Style()
    public func with(fg: TermColor) -> Style { var s = self; s.fg = fg; return s }
    public var bolded: Style { var s = self; s.bold = true; return s }
    public var reversed: Style { var s = self; s.reverse = true; return s }
}

/// One screen cell: the grapheme drawn there and its style. A wide character occupies its own cell
/// and marks the next one as a continuation (`text` empty) so the diff never splits it.
public struct Cell: Sendable, Hashable {
    public var text: String
    public var style: Style
    public init(_ text: String = " ", _ style: Style = .plain) {
        self.text = text
        self.style = style
    }
    public static let blank = Cell()
    static let continuation = Cell("", .plain)
    public var isContinuation: Bool { text.isEmpty }
}

/// A rectangle of cells, in columns and rows from the top-left corner.
public struct Rect: Sendable, Equatable {
    public var x: Int, y: Int, width: Int, height: Int
    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x
        self.y = y
        self.width = max(0, width)
        self.height = max(0, height)
    }
    public var maxX: Int { x + width }
    public var maxY: Int { y + height }
    public var isEmpty: Bool { width <= 0 || height <= 0 }
    /// Shrinks by `n` on every side.
    public func inset(_ n: Int) -> Rect { Rect(x: x + n, y: y + n, width: width - 2 * n, height: height - 2 * n) }
    public func row(_ i: Int) -> Rect { Rect(x: x, y: y + i, width: width, height: i < height ? 1 : 0) }
}

/// What a frame looks like, cell by cell. Widgets draw here; only the terminal backend reads it.
public struct ScreenBuffer: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public private(set) var cells: [Cell]

    public init(width: Int, height: Int) {
        self.width = max(0, width)
        self.height = max(0, height)
        cells = Array(repeating: .blank, count: self.width * self.height)
    }

    public var area: Rect { Rect(x: 0, y: 0, width: width, height: height) }

    public subscript(x: Int, y: Int) -> Cell {
        get { cells[y * width + x] }
        set { cells[y * width + x] = newValue }
    }

    func contains(_ x: Int, _ y: Int) -> Bool { x >= 0 && y >= 0 && x < width && y < height }

    /// Puts one grapheme; a wide one takes two cells (or a blank when only one is left in `limit`).
    @discardableResult
    public mutating func put(_ ch: Character, x: Int, y: Int, style: Style, limit: Int? = nil) -> Int {
        let maxX = min(width, limit ?? width)
        guard y >= 0, y < height, x >= 0, x < maxX else { return 0 }
        let w = TextWidth.of(ch)
        if w == 0 { return 0 }
        // Overwriting half of a wide character leaves the other half blank, never a stray half.
        if self[x, y].isContinuation && x > 0 { self[x - 1, y] = Cell(" ", self[x - 1, y].style) }
        if w == 2 {
            guard x + 1 < maxX else {
                self[x, y] = Cell(" ", style)
                return 1
            }
            if x + 2 < width && self[x + 2, y].isContinuation { self[x + 2, y] = Cell(" ", style) }
            self[x, y] = Cell(String(ch), style)
            self[x + 1, y] = Cell("", style)
            return 2
        }
        if x + 1 < width && self[x + 1, y].isContinuation { self[x + 1, y] = Cell(" ", self[x + 1, y].style) }
        self[x, y] = Cell(String(ch), style)
        return 1
    }

    /// Draws `text` from (x, y), clipped to `maxWidth` columns; returns the columns used.
    /// Control characters and escape sequences are neutralized first: logs never drive the terminal.
    @discardableResult
    public mutating func text(_ text: String, x: Int, y: Int, style: Style = .plain, maxWidth: Int? = nil) -> Int {
        guard y >= 0, y < height else { return 0 }
        let limit = min(width, x + (maxWidth ?? width))
        var cx = x
        for ch in Sanitize.neutralize(text) {
            if cx >= limit { break }
            if cx < 0 { cx += TextWidth.of(ch); continue }
            cx += put(ch, x: cx, y: y, style: style, limit: limit)
        }
        return cx - x
    }

    /// Fills a rectangle with one character and style.
    public mutating func fill(_ rect: Rect, _ ch: Character = " ", style: Style = .plain) {
        for y in max(0, rect.y)..<min(height, rect.maxY) {
            for x in max(0, rect.x)..<min(width, rect.maxX) { self[x, y] = Cell(String(ch), style) }
        }
    }

    /// Blanks a rectangle; a wide character cut by its left or right edge is blanked whole, so
    /// no half of it (or of a frame under it) is left beside the cleared area.
    public mutating func clear(_ rect: Rect) {
        for y in max(0, rect.y)..<min(height, rect.maxY) {
            let x0 = max(0, rect.x), x1 = min(width, rect.maxX)
            guard x0 < x1 else { continue }
            if self[x0, y].isContinuation && x0 > 0 { self[x0 - 1, y] = Cell(" ", self[x0 - 1, y].style) }
            if x1 < width && self[x1, y].isContinuation { self[x1, y] = Cell(" ", self[x1, y].style) }
            for x in x0..<x1 { self[x, y] = .blank }
        }
    }

    /// Changes the style of cells without touching their text (selection bars, highlights).
    public mutating func restyle(_ rect: Rect, _ change: (inout Style) -> Void) {
        for y in max(0, rect.y)..<min(height, rect.maxY) {
            for x in max(0, rect.x)..<min(width, rect.maxX) { change(&cells[y * width + x].style) }
        }
    }

    /// The rows as plain text (styles dropped), for snapshots and tests.
    public var lines: [String] {
        (0..<height).map { y in
            var s = ""
            for x in 0..<width { s += self[x, y].text }
            return s
        }
    }
}
