@testable import FinetopTUI

/// The test backend (ratatui's `TestBackend`): inputs are queued, frames kept as buffers.
final class TestTerminal: Terminal {
    var size: (width: Int, height: Int)
    private var queue: [TerminalInput] = []
    /// Every frame drawn, in order.
    private(set) var frames: [ScreenBuffer] = []
    private(set) var invalidations = 0

    init(width: Int, height: Int) { size = (width, height) }

    /// What the screen shows now (a blank screen before the first draw).
    var screen: ScreenBuffer { frames.last ?? ScreenBuffer(width: size.width, height: size.height) }

    func type(_ keys: [Key]) { queue += keys.map { .key($0) } }

    /// The terminal window changes size: the next read says so, as ncurses' KEY_RESIZE does.
    func resize(width: Int, height: Int) {
        size = (width, height)
        queue.append(.resize)
    }

    func draw(_ buf: ScreenBuffer) { frames.append(buf) }
    func invalidate() { invalidations += 1 }
    func read() -> TerminalInput? { queue.isEmpty ? nil : queue.removeFirst() }
    var inputDescriptor: Int32? { nil }
    var hasBufferedInput: Bool { !queue.isEmpty }
}
