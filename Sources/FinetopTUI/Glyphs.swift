/// Line-drawing characters, with a plain-ASCII set for terminals whose locale is not UTF-8.
struct Glyphs {
    let horizontal: Character, vertical: Character
    let topLeft: Character, topRight: Character, bottomLeft: Character, bottomRight: Character
    let teeDown: Character, teeUp: Character, teeRight: Character, teeLeft: Character
    let dot: String, arrow: String, legendLine: String, batchDot: String
    let bestMark: Character, cursor: Character
    /// A folded block's row, and a layer that moved while frozen (PyTorch BatchNorm statistics).
    let folded: String, movedWhileFrozen: String

    init(ascii: Bool) {
        if ascii {
            (horizontal, vertical) = ("-", "|")
            (topLeft, topRight, bottomLeft, bottomRight) = ("+", "+", "+", "+")
            (teeDown, teeUp, teeRight, teeLeft) = ("+", "+", "+", "+")
            (dot, arrow, legendLine, batchDot) = ("-", "->", "--", ".")
            (bestMark, cursor) = ("@", ">")
            (folded, movedWhileFrozen) = ("+", "#")
        } else {
            (horizontal, vertical) = ("─", "│")
            (topLeft, topRight, bottomLeft, bottomRight) = ("┌", "┐", "└", "┘")
            (teeDown, teeUp, teeRight, teeLeft) = ("┬", "┴", "├", "┤")
            (dot, arrow, legendLine, batchDot) = ("·", "→", "──", "⣀")
            (bestMark, cursor) = ("●", "›")
            (folded, movedWhileFrozen) = ("▸", "◆")
        }
    }
}
