import Testing
import FinetopCore
@testable import FinetopTUI

/// The header, the key bar, the status line and the message box: the screen's edges.
@Suite struct BarTests {
    let colored = DashboardOptions(color: true, ascii: false)

    @Test func headerSaysLiveInGreen() {
        let s = TestRuns.state(TestRuns.overfitting(), width: 80, height: 24, options: colored)
        let buf = drawn(width: 80, height: 1) { Header.draw(s, Rect(x: 2, y: 0, width: 76, height: 1), &$0) }
        #expect(buf.lines[0].hasPrefix("   finetop · overfit · keras 3.15.1 · epoch 20/30 · live "))
        let x = buf.lines[0].distance(from: buf.lines[0].startIndex, to: buf.lines[0].range(of: "live")!.lowerBound)
        #expect(colors(buf, row: 0, from: x, count: 4) == "GGGG")
    }

    @Test func keyBarKeepsHelpAndQuitOnANarrowRow() {
        let s = TestRuns.state(TestRuns.overfitting(), width: 80, height: 24, options: colored)
        let buf = drawn(width: 40, height: 1) { KeyBar.draw(s, Rect(x: 0, y: 0, width: 40, height: 1), &$0) }
        #expect(buf.lines[0] == " space toggle · ? help · q quit         ")
        #expect(colors(buf, row: 0, from: 1, count: 5) == "BBBBB")   // keys bold
    }

    @Test func statusLineColorsByKind() {
        var s = TestRuns.state(TestRuns.overfitting(), width: 80, height: 24, options: colored)
        s.message = StatusMessage("could not write control.json: disk full", .error)
        let buf = drawn(width: 60, height: 1) { StatusLine.draw(s, Rect(x: 0, y: 0, width: 60, height: 1), &$0) }
        #expect(buf.lines[0].hasPrefix(" could not write control.json: disk full "))
        #expect(colors(buf, row: 0, from: 1, count: 5) == "RRRRR")
    }

    @Test func longNoteGoesInABoxWhole() {
        var s = TestRuns.state(TestRuns.overfitting(), width: 60, height: 20)
        s.message = StatusMessage("job rejected revision 3: train with finetop.keras.fit(model, ...) instead of model.fit(...) to apply layer toggles", .error)
        #expect(!StatusLine.fits(s, Rect(x: 0, y: 0, width: 56, height: 1)))
        let buf = drawn(width: 60, height: 20) { MessageBox.draw(s, Rect(x: 2, y: 1, width: 56, height: 18), &$0) }
        let text = buf.lines.joined(separator: "\n")
        #expect(text.contains("┌─ error"))
        #expect(text.contains("finetop.keras.fit(model, ...)"))
        #expect(text.contains("toggles"))
    }

    /// A long note after a toggle does not hide the totals it changed: on a wide screen it sits
    /// over the chart side; on a narrow one it spans the screen.
    @Test func longNoteLeavesTheTableAndTotalsInSightOnAWideScreen() {
        let note = "job applied revision 2: trainable flags applied at the end of epoch 2: recompiled; Adam state carried "
            + "over (step count, learning rate, 8 slot variables of the layers that stay trainable; newly trainable ones "
            + "start from zero); resuming at epoch 3"
        var wide = TestRuns.state(TestRuns.mobileNet(), width: 120, height: 40)
        wide.message = StatusMessage(note)
        let screen = render(wide).lines
        let text = screen.joined(separator: "\n")
        #expect(text.contains("newly trainable ones"))
        #expect(text.contains("Trainable params:"), "the totals stay in sight")
        let boxTop = screen.first { $0.contains("┌─ note") }
        #expect(boxTop.map { !$0.hasPrefix("│ ┌─ note") } == true, "the note starts right of the layer pane")
        var narrow = TestRuns.state(TestRuns.mobileNet(), width: 80, height: 24)
        narrow.message = StatusMessage(note)
        #expect(render(narrow).lines.contains { $0.hasPrefix("│ ┌─ note") }, "narrow: the note spans the screen")
    }
}
