import CNcurses

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why the terminal UI could not start.
public struct TerminalError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// The one place that talks to ncurses: set up, draw a buffer by diffing it against the last one,
/// read keys, restore. Everything else in the dashboard is pure.
final class CursesTerminal: Terminal {
    private var previous: ScreenBuffer?
    private var pairs: [UInt16: Int16] = [:]
    private let useColor: Bool
    private let ascii: Bool
    /// Whether the C library's locale really is UTF-8 (else everything is drawn as ASCII).
    let utf8: Bool
    private var active = false
    private let grayColor: Int16

    init(options: DashboardOptions) throws(TerminalError) {
        setlocale(LC_ALL, "")
        TerminalGuard.saveTerminalModes()
        guard finetop_newterm() != nil else {
            let term = getenv("TERM").map { String(cString: $0) } ?? "(unset)"
            throw TerminalError(message: "cannot start the terminal UI: TERM=\(term) has no usable terminfo entry")
        }
        active = true
        TerminalGuard.installCrashRestore()
        let win = finetop_stdscr()
        cbreak()
        noecho()
        nonl()
        keypad(win, true)
        nodelay(win, true)
        intrflush(win, false)
        set_escdelay(25)
        curs_set(0)
        var color = false
        if options.color && has_colors() {
            start_color()
            use_default_colors()
            color = true
        }
        useColor = color
        // The environment may name a UTF-8 locale that is not installed: trust what setlocale got.
        let codeset = nl_langinfo(nl_item(CODESET)).map { String(cString: $0) } ?? ""
        utf8 = codeset.uppercased().filter { $0 != "-" } == "UTF8"
        ascii = options.ascii || !utf8
        grayColor = color && finetop_colors() >= 16 ? 8 : Int16(COLOR_WHITE)
    }

    deinit { restore() }

    /// Undoes everything `init` did. Safe to call more than once.
    func restore() {
        guard active else { return }
        active = false
        curs_set(1)
        endwin()
    }

    var size: (width: Int, height: Int) { (Int(finetop_cols()), Int(finetop_lines())) }

    /// Forgets what is on screen, so the next draw repaints everything (after a resize).
    func invalidate() {
        previous = nil
        wclear(finetop_stdscr())
    }

    /// Writes only the cells that differ from the last frame.
    func draw(_ buf: ScreenBuffer) {
        let win = finetop_stdscr()
        let old = previous.flatMap { $0.width == buf.width && $0.height == buf.height ? $0 : nil }
        if old == nil { werase(win) }
        var lastStyle: Style?
        for y in 0..<buf.height {
            for x in 0..<buf.width {
                let cell = buf[x, y]
                if let o = old, o[x, y] == cell { continue }
                if cell.isContinuation { continue }
                if cell.style != lastStyle {
                    apply(cell.style, win)
                    lastStyle = cell.style
                }
                var text = cell.text
                if ascii && text.unicodeScalars.contains(where: { $0.value >= 0x7F }) { text = "?" }
                _ = mvwaddstr(win, Int32(y), Int32(x), text)
            }
        }
        wattr_set(win, finetop_attrs(0, 0, 0, 0), 0, nil)
        wrefresh(win)
        previous = buf
    }

    private func apply(_ style: Style, _ win: UnsafeMutablePointer<WINDOW>?) {
        let attrs = finetop_attrs(style.bold ? 1 : 0, style.dim ? 1 : 0, style.reverse ? 1 : 0, style.underline ? 1 : 0)
        let pair = useColor ? pairNumber(style.fg, style.bg) : 0
        wattr_set(win, attrs, pair, nil)
    }

    private func pairNumber(_ fg: TermColor, _ bg: TermColor) -> Int16 {
        if fg == .none && bg == .none { return 0 }
        let key = UInt16(fg.rawValue) << 8 | UInt16(bg.rawValue)
        if let p = pairs[key] { return p }
        let n = Int16(pairs.count + 1)
        init_pair(n, color(fg), color(bg))
        pairs[key] = n
        return n
    }

    private func color(_ c: TermColor) -> Int16 {
        switch c {
        case .none: return -1
        case .black: return Int16(COLOR_BLACK)
        case .red: return Int16(COLOR_RED)
        case .green: return Int16(COLOR_GREEN)
        case .yellow: return Int16(COLOR_YELLOW)
        case .blue: return Int16(COLOR_BLUE)
        case .magenta: return Int16(COLOR_MAGENTA)
        case .cyan: return Int16(COLOR_CYAN)
        case .white: return Int16(COLOR_WHITE)
        case .gray: return grayColor
        }
    }

    var inputDescriptor: Int32? { 0 }
    /// ncurses reads from stdin only when asked: `poll` on descriptor 0 says when.
    var hasBufferedInput: Bool { false }

    /// One decoded input, or nil when nothing is waiting.
    func read() -> TerminalInput? {
        var ch: wint_t = 0
        let r = wget_wch(finetop_stdscr(), &ch)
        if r == KEY_CODE_YES {
            switch Int32(ch) {
            case KEY_RESIZE: return .resize
            case KEY_UP: return .key(.up)
            case KEY_DOWN: return .key(.down)
            case KEY_LEFT: return .key(.left)
            case KEY_RIGHT: return .key(.right)
            case KEY_NPAGE: return .key(.pageDown)
            case KEY_PPAGE: return .key(.pageUp)
            case KEY_HOME: return .key(.home)
            case KEY_END: return .key(.end)
            case KEY_ENTER: return .key(.enter)
            case KEY_BACKSPACE: return .key(.backspace)
            default: return .ignored
            }
        }
        guard r == OK else { return nil }
        switch ch {
        case 10, 13: return .key(.enter)
        case 27: return .key(.escape)
        case 8, 127: return .key(.backspace)
        case 9: return .key(.tab)
        case 1...26:
            // Ctrl-A … Ctrl-Z (Ctrl-C only arrives as a key when the tty does not turn it into SIGINT).
            guard let u = Unicode.Scalar(UInt32(ch) + 96) else { return nil }
            return .key(.ctrl(Character(u)))
        default:
            guard let u = Unicode.Scalar(UInt32(ch)) else { return nil }
            return .key(.char(Character(u)))
        }
    }
}
