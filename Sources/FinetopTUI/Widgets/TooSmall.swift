/// Below the smallest supported size: what is needed and how to quit.
enum TooSmall {
    static func draw(_ s: AppState, _ buf: inout ScreenBuffer) {
        guard buf.width > 0, buf.height > 0 else { return }
        let x = s.options.ascii ? "x" : "×"
        let lines = [
            "terminal too small",
            "(need \(Layout.minWidth)\(x)\(Layout.minHeight), have \(s.width)\(x)\(s.height))",
            "q quits",
        ]
        let top = max(0, (buf.height - lines.count) / 2)
        for (i, line) in lines.enumerated() where top + i < buf.height {
            let w = TextWidth.of(line)
            buf.text(line, x: max(0, (buf.width - w) / 2), y: top + i, style: i == 0 ? Style.plain.bolded : .plain)
        }
    }
}
