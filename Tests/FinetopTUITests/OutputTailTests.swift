import Foundation
import Testing
@testable import FinetopTUI

/// The output overlay shows output.log as a terminal would: Rich's live display moves the cursor
/// up to redraw its rows, which must not pile up a copy of them per refresh.
@Suite struct OutputTailTests {
    @Test func cursorUpRedrawsRowsInsteadOfAddingThem() {
        let frame1 = "\u{1B}[?25l\r\u{1B}[2KEpoch 0/3 \u{1B}[35m━━\u{1B}[0m 1/8 loss: 0.5\nValidation 1/2"
        let frame2 = "\r\u{1B}[2K\u{1B}[1A\u{1B}[2KEpoch 0/3 \u{1B}[35m━━━\u{1B}[0m 2/8 loss: 0.4\nValidation 2/2"
        let lines = OutputTail.lines(Array(("start\n" + frame1 + frame2 + "\n\u{1B}[?25h").utf8), fromStart: true)
        #expect(lines == ["start", "Epoch 0/3 ━━━ 2/8 loss: 0.4", "Validation 2/2"])
    }

    @Test func crlfLineEndsKeepTheirLines() {
        #expect(OutputTail.lines(Array("a\r\nb\r\n".utf8), fromStart: true) == ["a", "b"])
    }

    /// The real Rich log of a Lightning run: its last frame once, no escape sequences.
    @Test func realRichLogShowsItsLastFrameOnce() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("FinetopCoreTests/Fixtures/logs/lightning_rich_live_stdout.log").path
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let lines = OutputTail.lines(bytes, fromStart: true)
        // Rich's last frame redraws one row fewer than its live region had (as a terminal shows).
        #expect(lines.filter { $0.hasPrefix("Epoch ") }.count <= 2)
        #expect(lines.filter { $0.contains("Epoch 0/3") || $0.contains("Epoch 2/3") }.isEmpty)
        #expect(lines.contains { $0.contains("train_loss_epoch:") })
        #expect(!lines.contains { $0.contains("\u{1B}") || $0.contains("[2K") })
    }
}
