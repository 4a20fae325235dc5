import Testing
import FinetopCore
@testable import FinetopTUI

/// The totals pane reads like Keras 3's summary: once the job reports its optimizer's variables,
/// a fourth count and Total = trainable + non-trainable + optimizer (issue 16 item 1), with a line
/// saying what the extra count is.
@Suite struct TotalsTests {
    let colored = DashboardOptions(color: true, ascii: false)

    /// The model after `fit` with Adam: 884,484 trainable, 1,537,984 frozen, and Keras 3's
    /// "Optimizer params: 1,768,970" (two moments per trainable scalar, the step and the rate).
    static func afterFit(optimizerParams: Int? = 1_768_970, optimizer: String? = "Adam") -> Run {
        var run = Run(format: .runDirectory)
        run.info = RunInfo(framework: "keras", frameworkVersion: "3.15.1", runID: "recipe", started: 1_763_900_000,
                           hparams: HParams(optimizer: optimizer, learningRate: 1e-4, batchSize: 32, epochs: 10))
        run.model = LayerTable(revision: 2, layers: [
            Layer(name: "input_layer", className: "InputLayer", params: 0, trainableParams: 0, trainable: false, depth: 0),
            Layer(name: "mobilenetv2_1.00_96", className: "Functional", params: 2_257_984, trainableParams: 720_000, trainable: true, depth: 0),
            Layer(name: "dense", className: "Dense", params: 163_968, trainableParams: 163_968, trainable: true, depth: 0),
            Layer(name: "dense_1", className: "Dense", params: 516, trainableParams: 516, trainable: true, depth: 0),
        ], optimizerParams: optimizerParams)
        return run
    }

    @Test func totalCountsTheOptimizerAsKeras3Does() {
        let s = TestRuns.state(Self.afterFit(), width: 120, height: 40, options: colored)
        let buf = drawn(width: 60, height: 6) { TotalsView.draw(s, Rect(x: 0, y: 0, width: 60, height: 6), &$0) }
        let l = buf.lines
        // Keras: "Total params: 4,191,438 (15.99 MB)", the three parts, "Optimizer params: 1,768,970 (6.75 MB)".
        #expect(l[0].hasPrefix(" Total params:") && l[0].hasSuffix(" 4,191,438 (15.99 MB) "), "\(l[0])")
        #expect(l[1].hasPrefix(" Trainable params:") && l[1].hasSuffix(" 884,484 (3.37 MB) "), "\(l[1])")
        #expect(l[2].hasPrefix(" Non-trainable params:") && l[2].hasSuffix(" 1,537,984 (5.87 MB) "), "\(l[2])")
        #expect(l[3].hasPrefix(" Optimizer params:") && l[3].hasSuffix(" 1,768,970 (6.75 MB) "), "\(l[3])")
        #expect(l[4].hasPrefix(" (Adam's slot variables, counted in Total as Keras does) "), "\(l[4])")
        #expect(l[5].hasPrefix(" No pending changes"))
        // Total bold, trainable green, the optimizer's count cyan, its meaning gray.
        #expect(colors(buf, row: 0, from: 1, count: 5) == "BBBBB")
        #expect(colors(buf, row: 1, from: 1, count: 9) == "ggggggggg")
        #expect(colors(buf, row: 3, from: 1, count: 9) == "ccccccccc")
        #expect(colors(buf, row: 3, from: 59 - "1,768,970 (6.75 MB)".count, count: 9) == "ccccccccc")
        #expect(colors(buf, row: 4, from: 1, count: 20) == String(repeating: "a", count: 20))
    }

    @Test func narrowPaneShortensTheMeaningAndKeepsTheCount() {
        let s = TestRuns.state(Self.afterFit(), width: 80, height: 24, options: colored)
        let buf = drawn(width: 38, height: 6) { TotalsView.draw(s, Rect(x: 0, y: 0, width: 38, height: 6), &$0) }
        #expect(buf.lines[0].hasPrefix(" Total:") && buf.lines[0].contains("4,191,438"))
        #expect(buf.lines[3].hasPrefix(" Optimizer:") && buf.lines[3].contains("1,768,970"))
        #expect(buf.lines[4] == " (Adam's slot variables, in Total)    ")
    }

    @Test func unknownOptimizerIsNamedGenerically() {
        let s = TestRuns.state(Self.afterFit(optimizer: nil), width: 120, height: 40)
        let buf = drawn(width: 40, height: 6) { TotalsView.draw(s, Rect(x: 0, y: 0, width: 40, height: 6), &$0) }
        #expect(buf.lines[4].hasPrefix(" (the optimizer's slot variables"))
    }

    @Test func beforeTheOptimizerIsBuiltThreeCountsAsBefore() {
        let s = TestRuns.state(Self.afterFit(optimizerParams: nil), width: 120, height: 40)
        let buf = drawn(width: 60, height: 4) { TotalsView.draw(s, Rect(x: 0, y: 0, width: 60, height: 4), &$0) }
        #expect(buf.lines[0].hasSuffix(" 2,422,468 (9.24 MB) "), "\(buf.lines[0])")
        #expect(!buf.lines.joined().contains("Optimizer"))
        #expect(TotalsView.rows(s, screenHeight: 40) == Layout.totalsRows)
    }

    /// Render and reducer take the same taller totals pane, so paging moves by the rows on screen.
    @Test func layoutGivesTheOptimizerRowsAndPagingAgrees() {
        let s = TestRuns.state(Self.afterFit(), width: 80, height: 24)
        #expect(TotalsView.rows(s, screenHeight: 24) == Layout.totalsRows + 2)
        #expect(TotalsView.rows(s, screenHeight: 16) == Layout.totalsRows + 1)
        let plain = Layout(width: 80, height: 24)
        #expect(Layout(for: s).tableRows == plain.tableRows - 2)
        var m = TestRuns.state(TestRuns.mobileNet(), width: 80, height: 24)
        m.run.model?.optimizerParams = 2
        let rows = Layout(for: m).tableRows
        let (paged, _) = TestRuns.press(m, [.pageDown])
        #expect(paged.cursor == rows)
    }

    @Test(arguments: [(60, 16), (80, 24), (200, 60)]) func optimizerRowsOnScreen(width: Int, height: Int) {
        var run = TestRuns.mobileNet()
        run.info?.hparams.optimizer = "Adam"
        // A fitted frozen MobileNetV2 head-less base with Adam: 2 moments per trainable scalar + 2.
        let trainable = run.model?.totals.trainable ?? 0
        run.model?.optimizerParams = 2 * trainable + 2
        assertSnapshot("mobilenet_optimizer_\(width)x\(height)", TestRuns.state(run, width: width, height: height, pinDiagnosis: true))
    }
}
