import Testing
import FinetopCore
@testable import FinetopTUI

@Suite struct LossChartTests {
    @Test func yLabelsNeverRepeatOnASmallRange() {
        // 1.39 / 1.39 / 1.38 was what a flat loss showed.
        #expect(NumberFormat.axisLabels([1.3948, 1.3851, 1.3752], width: 7) == ["1.395", "1.385", "1.375"])
        #expect(NumberFormat.axisLabels([4.2, 2.6, 1.1], width: 7) == ["4.20", "2.60", "1.10"])
        let tiny = NumberFormat.axisLabels([0.500_03, 0.500_02, 0.500_01], width: 7)
        #expect(Set(tiny).count == 3 && tiny.allSatisfy { $0.count <= 7 })
    }

    @Test func flatLossChartHasDistinctLabelsAndSeriesColors() {
        let s = TestRuns.state(TestRuns.bert(), width: 80, height: 24, options: DashboardOptions(color: true, ascii: false))
        let buf = drawn(width: 40, height: 12) { LossChart.draw(s, Rect(x: 0, y: 0, width: 40, height: 12), &$0) }
        let labels = (1...9).map { String(buf.lines[$0].prefix(7)).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        #expect(labels.count == 3 && Set(labels).count == 3)
        #expect(buf.lines[0].hasPrefix(" loss  ── train  ── val"))
        #expect(colors(buf, row: 0, from: 7, count: 8) == "cccccccc")   // train: cyan
        #expect(colors(buf, row: 0, from: 17, count: 5) == "mmmmm")   // val: magenta
    }

    @Test func drawStepsAgreeWithTheWhole() {
        // The legend alone is what draw puts on the first row.
        let s = TestRuns.state(TestRuns.overfitting(), width: 80, height: 24)
        let whole = drawn(width: 50, height: 12) { LossChart.draw(s, Rect(x: 0, y: 0, width: 50, height: 12), &$0) }
        let legend = drawn(width: 50, height: 12) { LossChart.drawLegend(LossChart.Series(s), s, Rect(x: 0, y: 0, width: 50, height: 12), Glyphs(ascii: false), &$0) }
        #expect(whole.lines[0] == legend.lines[0])
        #expect(LossChart.xAxisEnd(s, LossChart.Series(s)) == 30)
    }
}
