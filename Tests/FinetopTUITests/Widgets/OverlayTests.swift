import Testing
import FinetopCore
@testable import FinetopTUI

@Suite struct OverlayTests {
    @Test func overlayClearsItsMarginAndStraightensTheBorder() {
        var buf = ScreenBuffer(width: 12, height: 6)
        let g = Glyphs(ascii: false)
        for y in 0..<6 { buf.put("├", x: 0, y: y, style: .plain); buf.put("─", x: 1, y: y, style: .plain) }
        buf.text("漢字漢字漢", x: 1, y: 2)
        OverlayBox.draw(Rect(x: 2, y: 1, width: 6, height: 4), title: "", g, &buf)
        // The ring (x 1 and 8, rows 1-4) is blank, the border's tees beside it are straight, and the
        // wide character cut by the ring is blanked whole; what is farther away stays.
        #expect(buf.lines == [
            "├─          ",
            "│ ┌────┐    ",
            "│ │    │ 漢 ",
            "│ │    │    ",
            "│ └────┘    ",
            "├─          ",
        ])
    }

    @Test func helpShowsTheHintOn24Rows() {
        var s = TestRuns.state(TestRuns.overfitting(), width: 80, height: 24)
        s.hint = "real job: finetop run -- python train.py"
        let (open, _) = TestRuns.press(s, [.char("?")])
        #expect(render(open).lines.joined().contains("real job: finetop run -- python train.py"))
    }

    @Test func outputOverlayWrapsLongLinesByCharacter() {
        var s = TestRuns.state(TestRuns.overfitting(), width: 60, height: 16)
        s.outputLines = [String(repeating: "a", count: 60) + "END"]
        s.showOutput = true
        let text = render(s).lines.joined(separator: "\n")
        #expect(text.contains("aEND") || text.contains("END"))
        #expect(text.contains("┌─ output.log"))
    }

    @Test func unsafeTextIsOneRuleForBothPrinters() {
        for scalar in ["\u{200E}", "\u{200F}", "\u{FEFF}", "\u{202E}", "\u{1B}", "\u{061C}"] {
            let u = scalar.unicodeScalars.first!
            #expect(DisplayText.isUnsafe(u) && Sanitize.isUnsafe(u))
            #expect(Sanitize.neutralize("a\(scalar)b") == "a?b")
            #expect(!DisplayText.neutralize("a\(scalar)b").unicodeScalars.contains(u))
        }
    }
}
