import Foundation
import Testing
import FinetopCore
@testable import FinetopTUI

/// Whole-screen snapshots pin text (`Snapshots/*.txt`); these pin style too, for the screens whose
/// colors carry meaning: trainable flags (Y green bold, N plain), pending marks (Y* N* yellow, bold,
/// underlined), the diagnosis label (its fit color). `Snapshots/<name>.style.txt` holds the
/// one code per cell of the screen (`.` plain; read it beside `<name>.txt`) and the codes' legend.
@Suite struct StyleSnapshotTests {
    @Test func frozenMobileNetFlags() {
        let s = colored(TestRuns.mobileNet(), width: 80, height: 24, pinDiagnosis: true)
        assertStyleSnapshot("mobilenet_frozen_80x24", s)
    }

    @Test func pendingMarks() {
        let s = colored(TestRuns.mobileNet(), width: 80, height: 24, pinDiagnosis: true)
        let keys: [Key] = [.char("G")] + Array(repeating: .up, count: 19) + [.char("u"), .down, .char(" ")]
        let (after, _) = TestRuns.press(s, keys)
        assertStyleSnapshot("mobilenet_pending_80x24", after)
    }

    @Test func overfittingLabel() {
        assertStyleSnapshot("overfitting_80x24", colored(TestRuns.overfitting(), width: 80, height: 24, pinDiagnosis: true))
    }

    @Test func divergingLabel() {
        assertStyleSnapshot("diverging_80x24", colored(TestRuns.diverging(), width: 80, height: 24, pinDiagnosis: true))
    }

    /// The meaning itself, independent of any recording: the marks and the label have their styles.
    @Test func meaningfulCellsHaveTheirStyles() {
        let s = colored(TestRuns.mobileNet(), width: 80, height: 24, pinDiagnosis: true)
        let keys: [Key] = [.char("G")] + Array(repeating: .up, count: 19) + [.char("u"), .down, .char(" ")]
        let (after, _) = TestRuns.press(s, keys)
        let buf = render(after)
        let pending = Style(fg: .yellow, bold: true, underline: true)
        let stars = cells(buf) { $0.text == "*" }
        #expect(!stars.isEmpty)
        for (x, y) in stars { #expect(buf[x, y].style == pending && buf[x - 1, y].style == pending) }
        let (end, _) = TestRuns.press(s, [.char("G")])   // the trainable head is at the end
        let frozen = render(end)
        let label = colored(TestRuns.overfitting(), width: 80, height: 24, pinDiagnosis: true)
        let labelBuf = render(label)
        let word = find(labelBuf, "OVERFITTING").first { labelBuf[$0.x, $0.y].style.bold }
        #expect(word.map { labelBuf[$0.x, $0.y].style } == DiagnosisPanel.labelStyle(.overfitting))
        // The frozen model's head is trainable: its Y is green and bold.
        let ys = cells(frozen) { $0.text == "Y" && $0.style == Style(fg: .green, bold: true) }
        #expect(!ys.isEmpty)
    }

    /// A screen as a color terminal gets it (the text snapshots are drawn without color).
    func colored(_ run: Run, width: Int, height: Int, pinDiagnosis: Bool) -> AppState {
        TestRuns.state(run, width: width, height: height, options: DashboardOptions(color: true, ascii: false),
                       pinDiagnosis: pinDiagnosis)
    }

    func cells(_ buf: ScreenBuffer, _ test: (Cell) -> Bool) -> [(x: Int, y: Int)] {
        var out: [(x: Int, y: Int)] = []
        for y in 0..<buf.height { for x in 0..<buf.width where test(buf[x, y]) { out.append((x, y)) } }
        return out
    }

    func find(_ buf: ScreenBuffer, _ text: String) -> [(x: Int, y: Int)] {
        var out: [(x: Int, y: Int)] = []
        for (y, line) in buf.lines.enumerated() {
            let chars = Array(line)
            let want = Array(text)
            guard chars.count >= want.count else { continue }
            for x in 0...(chars.count - want.count) where Array(chars[x..<(x + want.count)]) == want { out.append((x, y)) }
        }
        return out
    }
}

/// A style snapshot: one code per cell (`.` for plain; a letter per other
/// style, in order of first appearance) and the legend saying which style each letter is.
func styleText(_ buf: ScreenBuffer) -> String {
    var codes: [Style: Character] = [Style.plain: "."]
    var legend: [String] = []
    let letters = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    var rows: [String] = []
    for y in 0..<buf.height {
        var row = ""
        for x in 0..<buf.width {
            let style = buf[x, y].style
            if codes[style] == nil {
                let c = letters[min(codes.count - 1, letters.count - 1)]
                codes[style] = c
                legend.append("\(c) = \(describe(style))")
            }
            row.append(codes[style] ?? "?")
        }
        rows.append("\"" + row + "\"")
    }
    return (rows + [""] + legend).joined(separator: "\n") + "\n"
}

func describe(_ s: Style) -> String {
    var parts: [String] = []
    if s.fg != .none { parts.append("fg \(s.fg)") }
    if s.bg != .none { parts.append("bg \(s.bg)") }
    if s.bold { parts.append("bold") }
    if s.dim { parts.append("dim") }
    if s.reverse { parts.append("reverse") }
    if s.underline { parts.append("underline") }
    return parts.joined(separator: ", ")
}

func assertStyleSnapshot(_ name: String, _ state: AppState, sourceLocation: SourceLocation = #_sourceLocation) {
    compareSnapshot(styleText(render(state)), file: name + ".style.txt", what: "style snapshot \(name)",
                    sourceLocation: sourceLocation)
}
