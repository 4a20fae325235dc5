import Testing
import FinetopCore
import FinetopDiagnosis
@testable import FinetopTUI

extension TestRuns {
    /// The frozen MobileNetV2 (its last four layers trainable) with six epochs of update ratios:
    /// `Conv_1` growing from 1e-3, `block_16_project_BN` in band, `Conv_1_bn` barely moving, the
    /// frozen layers exactly 0 except `block_16_depthwise_BN`, which moved while frozen (its
    /// running statistics).
    static func mobileNetWithStats() -> Run {
        var run = mobileNet()
        guard let model = run.model else { return run }
        let trained = Set(model.layers.filter(\.trainable).map(\.name))
        for e in 0..<6 {
            run.epochs.append(EpochRecord(epoch: e, step: (e + 1) * 100 - 1, values: ["loss": 1.0 - Double(e) * 0.05]))
            var ratios: [(String, Double)] = []
            for l in model.layers where l.hasWeights {
                let r: Double
                switch l.name {
                case "Conv_1": r = 1e-3 * Double(e + 1)
                case "Conv_1_bn": r = 2e-5
                case "block_16_project_BN": r = 5e-4
                case "block_16_depthwise_BN": r = 3e-4
                default: r = 0
                }
                ratios.append((l.name, r))
            }
            run.layerStats.append(epoch: e, modelRevision: model.revision, ratios: ratios) { !trained.contains($0) }
        }
        return run
    }

    static func index(_ s: AppState, _ name: String) -> Int {
        s.layers.firstIndex { $0.name == name } ?? -1
    }
}

@Suite struct LayerRowsTests {
    let colored = DashboardOptions(color: true, ascii: false)

    func shownNames(_ s: AppState) -> [String] {
        s.layerRows.rows.map { row in
            switch row {
            case .layer(let i): return s.layers[i].name
            case .block(let b): return "[" + s.layerRows.blocks[b].name + "]"
            }
        }
    }

    @Test func zFoldsTheBlockUnderTheCursorAndTheCursorMovesByShownRows() {
        var s = TestRuns.state(TestRuns.mobileNetWithStats(), width: 80, height: 24)
        s.cursor = TestRuns.index(s, "block_16_depthwise")
        let total = s.layerRows.count
        s = TestRuns.press(s, [.char("z")]).0
        #expect(s.folded == ["block_16"])
        // The 8 rows of block_16 are one row now, and the cursor is on it (its first layer).
        #expect(s.layerRows.count == total - 7)
        #expect(s.cursor == TestRuns.index(s, "block_16_expand"))
        #expect(s.foldedBlockUnderCursor?.name == "block_16")
        // j leaves the block in one step; k comes back onto it.
        s = TestRuns.press(s, [.char("j")]).0
        #expect(s.layers[s.cursor].name == "Conv_1")
        s = TestRuns.press(s, [.char("k"), .char("k")]).0
        #expect(s.layers[s.cursor].name == "block_15_add")
        s = TestRuns.press(s, [.char("j"), .char("z")]).0
        #expect(s.folded.isEmpty)
        #expect(s.layerRows.count == total)
    }

    @Test func capitalZFoldsEveryBlockThenUnfoldsThemAll() {
        var s = TestRuns.state(TestRuns.mobileNetWithStats(), width: 80, height: 24)
        let total = s.layerRows.count
        s = TestRuns.press(s, [.char("G"), .char("Z")]).0
        let names = shownNames(s)
        #expect(names.contains("[block_16]") && names.contains("[block_1]") && names.contains("[expanded_conv]"))
        #expect(s.layerRows.count < 40)
        // The cursor stays on the last row, the scroll keeps it in view.
        #expect(s.cursorRow == s.layerRows.count - 1)
        #expect(s.scroll <= s.cursorRow && s.cursorRow < s.scroll + Layout(width: 80, height: 24).tableRows)
        s = TestRuns.press(s, [.char("Z")]).0
        #expect(s.folded.isEmpty && s.layerRows.count == total)
    }

    @Test func spaceOnAFoldedBlockTogglesAllItsLayersInOneRevision() throws {
        var s = TestRuns.state(TestRuns.mobileNetWithStats(), width: 80, height: 24)
        s.cursor = TestRuns.index(s, "block_16_project")
        let (after, effects) = TestRuns.press(s, [.char("z"), .char(" ")])
        let writes = effects.compactMap { e -> ControlChange? in
            if case .writeControl(let c) = e { return c } else { return nil }
        }
        try #require(writes.count == 1)
        // block_16_project_BN trains already (the fixture's last four layers do): the other five change.
        let frozen = ["block_16_expand", "block_16_expand_BN", "block_16_depthwise", "block_16_depthwise_BN", "block_16_project"]
        let withWeights = frozen + ["block_16_project_BN"]
        #expect(writes[0].trainable == Dictionary(uniqueKeysWithValues: frozen.map { ($0, true) }))
        #expect(Set(frozen.map { after.control.changedAt[$0] }) == [writes[0].atLeast])
        let block = try #require(after.foldedBlockUnderCursor)
        #expect(LayerTableView.blockFlag(after, block).0 == "Y*")
        // Again: the whole block back to frozen, still one revision.
        let (_, again) = TestRuns.press(after, [.char(" ")])
        guard case .writeControl(let back) = try #require(again.first) else { Issue.record("no write"); return }
        #expect(back.trainable == Dictionary(uniqueKeysWithValues: withWeights.map { ($0, false) }))
    }

    @Test func aPartlyTrainableFoldedBlockUnfreezesTheRest() throws {
        var s = TestRuns.state(TestRuns.mobileNetWithStats(), width: 80, height: 24)
        s.cursor = TestRuns.index(s, "Conv_1")
        // Conv_1 and Conv_1_bn (both trainable) are one block; freeze Conv_1 first.
        s = TestRuns.press(s, [.char(" ")]).0
        let (after, effects) = TestRuns.press(s, [.char("z"), .char(" ")])
        guard case .writeControl(let c) = try #require(effects.last) else { Issue.record("no write"); return }
        #expect(c.trainable == ["Conv_1": true])
        #expect(after.message?.text.contains("unfreeze block Conv_1") == true)
    }

    @Test func fOnAFoldedBlockFreezesThroughItsLastLayer() throws {
        var s = TestRuns.state(TestRuns.mobileNetWithStats(), width: 80, height: 24)
        s.cursor = TestRuns.index(s, "block_16_expand")
        let (after, effects) = TestRuns.press(s, [.char("z"), .char("f")])
        guard case .writeControl(let c) = try #require(effects.last) else { Issue.record("no write"); return }
        // block_16_project_BN is the block's last layer with weights, and trainable.
        #expect(c.trainable == ["block_16_project_BN": false])
        #expect(after.message?.text.contains("freeze the first \(TestRuns.index(s, "block_16_project_BN") + 1) layers") == true)
    }

    @Test func capitalOSortsByRatioKeepsTheCursorOnItsLayerAndGoesBack() {
        var s = TestRuns.state(TestRuns.mobileNetWithStats(), width: 80, height: 24)
        s.cursor = TestRuns.index(s, "block_16_depthwise_BN")
        s = TestRuns.press(s, [.char("O")]).0
        #expect(s.sortByRatio)
        #expect(Array(shownNames(s).prefix(4)) == ["Conv_1", "block_16_project_BN", "block_16_depthwise_BN", "Conv_1_bn"])
        #expect(s.layers[s.cursor].name == "block_16_depthwise_BN" && s.cursorRow == 2)
        // Layers never measured (no weights) come last, in model order.
        #expect(shownNames(s).last == "out_relu")
        s = TestRuns.press(s, [.char("O")]).0
        #expect(!s.sortByRatio && shownNames(s) == s.layers.map(\.name))
        #expect(s.layers[s.cursor].name == "block_16_depthwise_BN")
    }

    @Test func sortingWithoutRatiosSaysWhy() {
        let s = TestRuns.press(TestRuns.state(TestRuns.mobileNet(), width: 80, height: 24), [.char("O")]).0
        #expect(!s.sortByRatio)
        #expect(s.message?.text.contains("no update ratios yet") == true)
    }

    @Test func aSearchMatchInsideAFoldUnfoldsIt() {
        var s = TestRuns.state(TestRuns.mobileNetWithStats(), width: 80, height: 24)
        s = TestRuns.press(s, [.char("Z")]).0
        s = TestRuns.press(s, [.char("/")] + "16_project_BN".map { Key.char($0) } + [.enter]).0
        #expect(s.layers[s.cursor].name == "block_16_project_BN")
        #expect(!s.folded.contains("block_16") && s.folded.contains("block_15"))
        #expect(s.foldedBlockUnderCursor == nil)
    }

    // MARK: - Drawing

    /// The state after `G`, scrolled so a table `height` rows tall ends with the last layer.
    func atTheEnd(width: Int, height: Int, tableHeight: Int) -> AppState {
        var s = TestRuns.press(TestRuns.state(TestRuns.mobileNetWithStats(), width: width, height: height, options: colored),
                               [.char("G")]).0
        s.scroll = s.layerRows.count - (tableHeight - 1)
        return s
    }

    @Test func ratioColumnShowsValuesColoredByBandAndTheMovedWhileFrozenMark() throws {
        let s = atTheEnd(width: 80, height: 24, tableHeight: 8)
        let buf = drawn(width: 38, height: 8) { LayerTableView.draw(s, Rect(x: 0, y: 0, width: 38, height: 8), &$0) }
        #expect(buf.lines == [
            " Layers 154     T       Params Ratio  ",
            " b_16_de…ise_BN N       3,840 3.0e-4◆ ",
            " b_16_de…e_relu -           0         ",
            " b_16_project   N     307,200      0  ",
            " b_16_pr…ect_BN Y       1,280 5.0e-4  ",
            " Conv_1         Y     409,600 6.0e-3  ",
            " Conv_1_bn      Y       5,120 2.0e-5  ",
            "›out_relu       -           0         ",
        ])
        // 100 steps an epoch: in band from 1e-4, barely moving below, exactly 0 dim gray.
        #expect(colors(buf, row: 1, from: 30, count: 7) == "ggggggM")
        #expect(buf[36, 1].style.bold)
        #expect(colors(buf, row: 3, from: 35, count: 1) == "a")
        #expect(attributes(buf, row: 3, from: 35, count: 1) == "D")
        #expect(colors(buf, row: 5, from: 30, count: 6) == "gggggg")
        #expect(colors(buf, row: 6, from: 30, count: 6) == "cccccc")
        // No ratio for a layer without weights: nothing drawn, nothing colored.
        #expect(colors(buf, row: 2, from: 30, count: 7) == ".......")
    }

    /// A TensorBoard histogram's norm change is a lower bound of the update ratio: the header says
    /// "Ratio≥" and the values are not colored by band (a small lower bound proves no "barely moving").
    @Test func aLowerBoundFromHistogramsSaysSoAndIsNotBanded() throws {
        var run = TestRuns.mobileNetWithStats()
        run.layerStats.measure = .weightNormChange
        var s = atTheEnd(width: 80, height: 24, tableHeight: 8)
        s.run = run
        let buf = drawn(width: 38, height: 8) { LayerTableView.draw(s, Rect(x: 0, y: 0, width: 38, height: 8), &$0) }
        #expect(buf.lines[0].hasSuffix("Params Ratio≥ "))
        // Conv_1_bn's 2e-5 would be cyan ("barely moving") as an update ratio: plain as a bound.
        #expect(buf.lines[6].contains("2.0e-5"))
        #expect(colors(buf, row: 6, from: 30, count: 6) == "......")
        // Exactly 0 still reads as unchanged weights, dim gray.
        #expect(colors(buf, row: 3, from: 35, count: 1) == "a")
    }

    @Test func sortedHeaderAndFarAboveInRed() {
        var run = TestRuns.mobileNetWithStats()
        run.layerStats.append(epoch: 6, ratios: [("Conv_1", 50), ("Conv_1_bn", .nan)])
        var s = TestRuns.press(TestRuns.state(run, width: 80, height: 24, options: colored), [.char("O")]).0
        s.scroll = 0
        let buf = drawn(width: 38, height: 4) { LayerTableView.draw(s, Rect(x: 0, y: 0, width: 38, height: 4), &$0) }
        #expect(buf.lines[0].hasSuffix("Params Ratio↓ "))
        // NaN first (weights that blew up), then 50 (far above: 1 per epoch at 100 steps).
        #expect(buf.lines[1].hasPrefix(" Conv_1_bn ") && buf.lines[1].hasSuffix("   NaN  "))
        #expect(buf.lines[2].hasPrefix(" Conv_1 ") && buf.lines[2].hasSuffix("    50  "))
        #expect(colors(buf, row: 2, from: 34, count: 2) == "RR")
    }

    @Test func wideTablesShowTheTrendAndTheClass() {
        let s = atTheEnd(width: 200, height: 60, tableHeight: 6)
        let cols = LayerTableView.columns(width: 90, s.layerWidths, stats: true)
        #expect(cols.ratio && cols.trend && cols.className > 0)
        let buf = drawn(width: 90, height: 6) { LayerTableView.draw(s, Rect(x: 0, y: 0, width: 90, height: 6), &$0) }
        let conv = buf.lines[3]
        #expect(conv.hasPrefix(" Conv_1 "))
        // 1e-3 … 6e-3 on the log scale 1e-6 … 1: level 4 (▅) up to 5e-3, 5 (▆) at 6e-3.
        #expect(conv.hasSuffix(" 6.0e-3  ▅▅▅▅▅▆ "))
        #expect(buf.lines[0].hasSuffix(" Ratio  Trend  "))
        #expect(buf.lines[1].hasPrefix(" block_16_project ") && buf.lines[1].hasSuffix("     0  ······ "))
        #expect(colors(buf, row: 3, from: 83, count: 6) == "gggggg")
    }

    @Test func narrowTablesDropTheTrendThenTheRatio() {
        let w = LayerWidths(name: 24, className: 18)
        #expect(LayerTableView.columns(width: 38, w, stats: true) == .init(name: 14, className: 0, ratio: true, trend: false))
        #expect(LayerTableView.columns(width: 28, w, stats: true) == .init(name: 12, className: 0, ratio: false, trend: false))
        #expect(LayerTableView.columns(width: 48, w, stats: true).trend)
        // Without ratios nothing changes: the class from 46 columns on.
        #expect(LayerTableView.columns(width: 46, w, stats: false) == .init(name: 19, className: 10, ratio: false, trend: false))
    }

    @Test func foldedBlockRowShowsItsCountParamsAndSummary() throws {
        var s = TestRuns.state(TestRuns.mobileNetWithStats(), width: 200, height: 60, options: colored)
        s.cursor = TestRuns.index(s, "Conv_1")
        s = TestRuns.press(s, [.char(" "), .char("z")]).0   // Conv_1 frozen (pending), then its block folded
        s.scroll = s.layerRows.count - 3
        let buf = drawn(width: 90, height: 4) { LayerTableView.draw(s, Rect(x: 0, y: 0, width: 90, height: 4), &$0) }
        let y = try #require(buf.lines.firstIndex { $0.contains("▸ Conv_1") })
        let row = buf.lines[y]
        #expect(row.contains("2 layers, 1 train"))
        #expect(row.contains(" P* "))
        #expect(row.contains(" 414,720 "))
        #expect(row.contains(" 6.0e-3 "))
        // A class column too narrow for that: how many of those with weights train.
        let narrow = drawn(width: 70, height: 4) { LayerTableView.draw(s, Rect(x: 0, y: 0, width: 70, height: 4), &$0) }
        #expect(narrow.lines.contains { $0.contains("▸ Conv_1") && $0.contains(" 1/2 train ") })
        let flagX = try #require(Array(row).firstIndex(of: "P"))
        #expect(colors(buf, row: y, from: flagX, count: 2) == "YY")
        #expect(buf[flagX, y].style.underline)
    }

    @Test func numberedBlockNamesKeepTheirBlockWhenCut() {
        let names = ["block_14_depthwise_relu", "block_16_depthwise_relu", "block_16_project", "block_16_project_BN",
                     "expanded_conv_depthwise_BN"]
        let out = NameShortener.shorten(names.map { ($0, 14) })
        #expect(out == ["b_14_de…e_relu", "b_16_de…e_relu", "b_16_project", "b_16_pr…ect_BN", "expa…thwise_BN"])
        #expect(NameShortener.numberedBlock("Conv_1_bn")! == ("Conv_1", "_bn"))
        #expect(NameShortener.numberedBlock("dense_1") == nil)
    }

    @Test func ratioText() {
        #expect(LayerTableView.ratioText(0) == "0")
        #expect(LayerTableView.ratioText(1.234e-3) == "1.2e-3")
        #expect(LayerTableView.ratioText(9.96e-4) == "1.0e-3")
        #expect(LayerTableView.ratioText(0.35) == "0.35")
        #expect(LayerTableView.ratioText(1.25) == "1.2" || LayerTableView.ratioText(1.25) == "1.3")
        #expect(LayerTableView.ratioText(12) == "12")
        #expect(LayerTableView.ratioText(1234) == "1.2e3")
        #expect(LayerTableView.ratioText(1e-12) == "<1e-9")
        #expect(LayerTableView.ratioText(.nan) == "NaN")
        for r in [1e-8, 3.3e-5, 0.099, 0.0999, 9.99, 99.9, 1e30] { #expect(LayerTableView.ratioText(r).count <= 6) }
    }

    @Test func noTwoRowsReadTheSameAtAnySize() {
        for (w, h) in [(80, 24), (60, 16), (200, 60), (120, 40)] {
            var s = TestRuns.state(TestRuns.mobileNetWithStats(), width: w, height: h)
            for _ in 0..<12 {
                let buf = render(s)
                let layout = Layout(width: w, height: h, tableWants: LayerTableView.wantedWidth(s.layerWidths, stats: true))
                let rows = (layout.table.y + 1..<layout.table.maxY).map {
                    String(buf.lines[$0].dropFirst(layout.table.x + 1).prefix(layout.table.width - 1))
                }.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
                #expect(Set(rows).count == rows.count, "\(w)x\(h): \(rows)")
                s = TestRuns.press(s, [.pageDown]).0
            }
        }
    }

    // MARK: - Whole screens

    /// The end of MobileNetV2 with ratios, block_15 folded, at the sizes users have.
    @Test(arguments: [(80, 24), (200, 60), (60, 16)]) func mobileNetWithRatios(width: Int, height: Int) {
        var s = TestRuns.state(TestRuns.mobileNetWithStats(), width: width, height: height, pinDiagnosis: true)
        s = TestRuns.press(s, [.char("G")]).0
        s.cursor = TestRuns.index(s, "block_15_add")
        s = TestRuns.press(s, [.char("z")]).0
        assertSnapshot("mobilenet_ratios_\(width)x\(height)", s)
    }

    /// BERT with every block folded: one row per encoder layer at 80×24.
    @Test func bertFoldedAt80x24() {
        var run = TestRuns.bert()
        let names = (run.model?.layers ?? []).filter(\.hasWeights).map(\.name)
        for e in 0..<3 {
            run.layerStats.append(epoch: e, ratios: names.map { ($0, $0.hasPrefix("classifier") ? 2e-3 : 0) })
        }
        let s = TestRuns.press(TestRuns.state(run, width: 80, height: 24, pinDiagnosis: true), [.char("Z")]).0
        assertSnapshot("bert_folded_80x24", s)
        let rows = render(s).lines
        #expect(rows.contains { $0.contains("▸ b.e.layer.11 ") })
        #expect(rows.contains { $0.contains("▸ b.embeddings ") })
    }

    @Test func asciiRatiosAndFolds() {
        var s = TestRuns.state(TestRuns.mobileNetWithStats(), width: 120, height: 40,
                               options: DashboardOptions(color: false, ascii: true), pinDiagnosis: true)
        s = TestRuns.press(s, [.char("G"), .char("Z")]).0
        assertSnapshot("mobilenet_ratios_ascii_120x40", s)
        #expect(render(s).lines.joined().unicodeScalars.allSatisfy { $0.value < 0x7F })
    }
}
