import Foundation
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

    /// At 60×16 the help holds 12 of its rows: the moving keys of the key table scroll it, its
    /// last row says how many rows are hidden and which keys show them, and every row is reachable.
    @Test func helpScrollsOnTheSmallestScreen() {
        let (open, _) = TestRuns.press(TestRuns.state(TestRuns.overfitting(), width: 60, height: 16), [.char("?")])
        let first = render(open).lines
        #expect(first.contains { $0.contains("↓") && $0.contains("more") && $0.contains("j k / arrows") })
        var seen = Set(first)
        var s = open
        for _ in 0..<60 {
            (s, _) = TestRuns.press(s, [.char("j")])
            #expect(s.showHelp, "j scrolls the help instead of closing it")
            seen.formUnion(render(s).lines)
        }
        let all = seen.joined(separator: "\n")
        for b in KeyBindings.all {
            #expect(all.contains(b.label), "the help never shows \(b.label)")
            // Texts wrap at spaces: every word of every help text shows whole.
            for word in b.help(for: s).split(separator: " ") { #expect(all.contains(word), "\(word) of \(b.label)") }
        }
        #expect(all.contains("Y* N* Y!"))
        let bottom = render(s).lines.joined(separator: "\n")
        #expect(bottom.contains("↑") && bottom.contains("above") && !bottom.contains("↓"))
        // Back to the top with the table's `g`; any other key closes.
        let (top, _) = TestRuns.press(s, [.char("g")])
        #expect(render(top).lines == first)
        let (closed, _) = TestRuns.press(top, [.char("x")])
        #expect(!closed.showHelp)
        // Opening it again starts at the top.
        let (again, _) = TestRuns.press(closed, [.char("?")])
        #expect(again.helpScroll == 0)
    }

    /// A help that fits scrolls nothing: every key closes it, as before.
    @Test func helpThatFitsClosesOnAnyKey() {
        let (open, _) = TestRuns.press(TestRuns.state(TestRuns.overfitting(), width: 120, height: 40), [.char("?")])
        #expect(!render(open).lines.joined().contains("more ·"))
        let (closed, _) = TestRuns.press(open, [.char("j")])
        #expect(!closed.showHelp)
    }

    /// Output lines wrap at spaces (no word cut in two, as `o` showed "will need t / o wrap" at
    /// 60×16), keep every character and their indentation, and break only a word longer than a row.
    @Test func outputOverlayWrapsAtSpacesAndLosesNothing() {
        let lines = ["Epoch 1/3",
                     "some output line that is fairly long and will need to wrap at narrow widths because it keeps going on and on",
                     "    File \"train.py\", line 12, in <module> with a long indented tail that wraps"]
        var s = TestRuns.state(TestRuns.overfitting(), width: 60, height: 16)
        s.outputLines = lines
        s.showOutput = true
        let words = Set(lines.flatMap { $0.split(separator: " ").map(String.init) })
        let rows = render(s).lines.dropFirst(2).prefix(8).map { row in
            String(row.dropFirst(4).dropLast(4)).trimmingCharacters(in: .whitespaces)   // inside "│ │ " … " │ │"
        }
        for row in rows where !row.isEmpty {
            for token in row.split(separator: " ") { #expect(words.contains(String(token)), "\(row): \(token) is a cut word") }
        }
        let pieces = WordWrap.logLine(lines[1], width: 52)
        #expect(pieces.joined() == lines[1])
        #expect(pieces.allSatisfy { TextWidth.of($0) <= 52 } && pieces.dropLast().allSatisfy { $0.hasSuffix(" ") })
        let indented = WordWrap.logLine(lines[2], width: 20)
        #expect(indented.joined() == lines[2] && indented[0].hasPrefix("    File"))
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
