import Testing
import FinetopCore
@testable import FinetopTUI

/// Whole screens at the two sizes users have most (80×24, 120×40), colors off.
@Suite struct SnapshotTests {
    static let sizes = [(80, 24), (120, 40)]

    @Test(arguments: sizes) func frozenMobileNet(width: Int, height: Int) {
        assertSnapshot("mobilenet_frozen_\(width)x\(height)", TestRuns.state(TestRuns.mobileNet(), width: width, height: height, pinDiagnosis: true))
    }

    @Test(arguments: sizes) func pendingChanges(width: Int, height: Int) {
        let s = TestRuns.state(TestRuns.mobileNet(), width: width, height: height, pinDiagnosis: true)
        // Unfreeze the last 20 layers, then freeze one of them again: pending marks and totals.
        let keys: [Key] = [.char("G")] + Array(repeating: .up, count: 19) + [.char("u"), .down, .char(" ")]
        let (after, _) = TestRuns.press(s, keys)
        assertSnapshot("mobilenet_pending_\(width)x\(height)", after)
    }

    @Test(arguments: sizes) func overfittingRun(width: Int, height: Int) {
        assertSnapshot("overfitting_\(width)x\(height)", TestRuns.state(TestRuns.overfitting(), width: width, height: height, pinDiagnosis: true))
    }

    @Test(arguments: sizes) func divergingRun(width: Int, height: Int) {
        assertSnapshot("diverging_\(width)x\(height)", TestRuns.state(TestRuns.diverging(), width: width, height: height, pinDiagnosis: true))
    }

    @Test(arguments: sizes) func emptyRun(width: Int, height: Int) {
        assertSnapshot("empty_\(width)x\(height)", TestRuns.state(TestRuns.empty(), width: width, height: height, name: "exp3", pinDiagnosis: true))
    }

    @Test func nestedModelIsIndented() {
        let (s, _) = TestRuns.press(TestRuns.state(TestRuns.nested(), width: 80, height: 24, pinDiagnosis: true), [.char("j"), .char(" ")])
        assertSnapshot("nested_pending_80x24", s)
    }

    @Test func smallestSupportedSize() {
        assertSnapshot("overfitting_60x16", TestRuns.state(TestRuns.overfitting(), width: 60, height: 16, pinDiagnosis: true))
    }

    @Test func tooSmallTerminal() {
        assertSnapshot("too_small_50x12", TestRuns.state(TestRuns.mobileNet(), width: 50, height: 12, pinDiagnosis: true))
    }

    @Test func helpOverlayOnTheSmallestScreen() {
        let (s, _) = TestRuns.press(TestRuns.state(TestRuns.overfitting(), width: 60, height: 16, pinDiagnosis: true), [.char("?")])
        assertSnapshot("help_60x16", s)
    }

    @Test func helpOverlay() {
        let (s, _) = TestRuns.press(TestRuns.state(TestRuns.overfitting(), width: 80, height: 24, pinDiagnosis: true), [.char("?")])
        assertSnapshot("help_80x24", s)
    }

    @Test func asciiFallback() {
        let s = TestRuns.state(TestRuns.overfitting(), width: 80, height: 24, options: DashboardOptions(color: false, ascii: true), pinDiagnosis: true)
        assertSnapshot("overfitting_ascii_80x24", s)
        let text = render(s).lines.joined()
        #expect(text.unicodeScalars.allSatisfy { $0.value < 0x7F })
    }

    @Test(arguments: [(60, 16), (80, 24), (250, 60)]) func bertLayerNames(width: Int, height: Int) {
        var s = TestRuns.state(TestRuns.bert(), width: width, height: height, pinDiagnosis: true)
        s.cursor = 40
        keepCursorVisible(&s)
        assertSnapshot("bert_\(width)x\(height)", s)
    }

    @Test func hugeModelMiddlePage() {
        var s = TestRuns.state(TestRuns.huge(), width: 80, height: 24, pinDiagnosis: true)
        s.cursor = 50_000
        keepCursorVisible(&s)
        assertSnapshot("huge_80x24", s)
    }

    @Test func mobileNetAt200x60() {
        assertSnapshot("mobilenet_frozen_200x60", TestRuns.state(TestRuns.mobileNet(), width: 200, height: 60, pinDiagnosis: true))
    }
}
