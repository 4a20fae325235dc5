import Testing
import FinetopCore
import FinetopDiagnosis
@testable import FinetopTUI

@Suite struct DiagnosisPanelTests {
    @Test func labelColorSaysHowBad() throws {
        let s = TestRuns.state(TestRuns.diverging(), width: 80, height: 24, options: DashboardOptions(color: true, ascii: false),
                               pinDiagnosis: true)
        let buf = drawn(width: 40, height: 6) { DiagnosisPanel.draw(s, Rect(x: 0, y: 0, width: 40, height: 6), &$0) }
        #expect(buf.lines[0].hasPrefix(" DIVERGING since epoch 5"))
        #expect(colors(buf, row: 0, from: 1, count: 9) == "RRRRRRRRR")
        let row = try #require(buf.lines.firstIndex { $0.hasPrefix(" →") })
        #expect(colors(buf, row: row, from: 1, count: 1) == "C")   // top suggestion: cyan, bold
        #expect(colors(buf, row: 1, from: 3, count: 4) == "....")   // evidence: plain
    }

    @Test func suggestionsWrapAtWordsAndACutBlockEndsInEllipsis() {
        let s = TestRuns.state(TestRuns.overfitting(), width: 80, height: 24, pinDiagnosis: true)
        let buf = drawn(width: 30, height: 6) { DiagnosisPanel.draw(s, Rect(x: 0, y: 0, width: 30, height: 6), &$0) }
        #expect(buf.lines == [
            " OVERFITTING since epoch 13   ",
            " · val_loss 0.689 is 42%      ",
            "   above its best 0.485 at…   ",
            " → EarlyStopping(monitor=     ",
            "   \"val_loss\", patience=2,    ",
            "   restore_best_weights=…     ",
        ])
    }

    @Test func wordWrapBreaksLongWordsAtPunctuationOrSaysItCut() {
        #expect(WordWrap.words("a restore_best_weights=True b", width: 14) == ["a", "restore_best_", "weights=True b"])
        #expect(WordWrap.words("supercalifragilistic", width: 8) == ["superca…"])
        #expect(WordWrap.fit(["one two", "three"], count: 1, width: 10) == ["one two…"])
    }
}
