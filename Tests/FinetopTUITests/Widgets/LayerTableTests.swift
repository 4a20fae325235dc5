import Testing
import FinetopCore
@testable import FinetopTUI

@Suite struct LayerTableTests {
    let colored = DashboardOptions(color: true, ascii: false)

    @Test func rowsShowNameClassFlagParamsAndPendingMarkInItsStyle() throws {
        let (s, _) = TestRuns.press(TestRuns.state(TestRuns.overfitting(), width: 80, height: 24, options: colored),
                                    [.char("j"), .char(" ")])
        let buf = drawn(width: 60, height: 5) { LayerTableView.draw(s, Rect(x: 0, y: 0, width: 60, height: 5), &$0) }
        #expect(buf.lines == [
            " Layers 8          2/8 Class                  T       Params",
            " input_layer           InputLayer             -           0 ",
            "›conv                  Conv2D                 Y*        864 ",
            " bn                    BatchNormalization     N         128 ",
            " relu                  ReLU                   -           0 ",
        ])
        let flagX = try #require(Array(buf.lines[2]).firstIndex(of: "Y"))
        // The pending mark: yellow, bold, underlined (still visible without color); the cursor row reversed.
        #expect(colors(buf, row: 2, from: flagX, count: 2) == "YY")
        #expect(attributes(buf, row: 2, from: 1, count: 3) == "RRR")
        #expect(buf[flagX, 2].style.underline)
        #expect(colors(buf, row: 1, from: flagX, count: 1) == "a")   // no weights: gray
        #expect(colors(buf, row: 3, from: 24, count: 5) == "aaaaa")   // class column
        #expect(colors(buf, row: 3, from: flagX, count: 1) == ".")   // frozen: default color
    }

    @Test func aToggleThatCouldNotBeWrittenIsMarkedRedAndUnderlined() throws {
        let (s, effects) = TestRuns.press(TestRuns.state(TestRuns.overfitting(), width: 80, height: 24, options: colored),
                                          [.char("j"), .char(" ")])
        let change = try #require(effects.lazy.compactMap { e -> ControlChange? in
            if case .writeControl(let c) = e { return c } else { return nil }
        }.first)
        let failed = reduce(s, .controlFailed("disk full", change)).0
        let buf = drawn(width: 60, height: 5) { LayerTableView.draw(failed, Rect(x: 0, y: 0, width: 60, height: 5), &$0) }
        let flagX = try #require(Array(buf.lines[0]).firstIndex(of: "T"))
        #expect(String(Array(buf.lines[2])[flagX...].prefix(2)) == "Y!")
        #expect(colors(buf, row: 2, from: flagX, count: 2) == "RR")   // red, bold
        #expect(buf[flagX, 2].style.underline)
    }

    @Test func partlyTrainableAndFixedStatisticsHaveTheirMarks() {
        let layers = [
            Layer(name: "proj", className: "Linear", params: 10, trainableParams: 2, trainable: true, partial: true),
            Layer(name: "bn", className: "BatchNorm2d", params: 4, trainableParams: 0, trainable: false, statsFrozen: true),
        ]
        var run = Run(format: .runDirectory)
        run.model = LayerTable(revision: 0, layers: layers)
        let s = TestRuns.state(run, width: 80, height: 24, options: colored)
        #expect(LayerTableView.flag(s, layers[0]).0 == "P ")
        #expect(LayerTableView.flag(s, layers[0]).1 == Style(fg: .green, bold: true))
        #expect(LayerTableView.flag(s, layers[1]).0 == "Ns")
        #expect(LayerTableView.flag(s, layers[1]).1 == .plain)
    }

    @Test func keraNamesAreCutInTheMiddleAndStayApart() {
        let names = ["expanded_conv_depthwise", "expanded_conv_depthwise_BN", "expanded_conv_depthwise_relu"]
        let out = NameShortener.shorten(names.map { ($0, 22) })
        #expect(Set(out).count == 3)
        #expect(out.allSatisfy { TextWidth.of($0) <= 22 })
        #expect(out[1].hasSuffix("depthwise_BN") && out[2].hasSuffix("depthwise_relu"))
        #expect(out[1].hasPrefix("expande"))
    }

    @Test func modulePathsKeepTheirNumbers() {
        let out = NameShortener.shorten([("bert.encoder.layer.3.attention.self.query", 22),
                                         ("bert.encoder.layer.4.attention.self.query", 22)])
        #expect(out == ["b.e.l.3.a.self.query", "b.e.l.4.a.self.query"])
    }

    @Test func namesAlikeAfterEveryShorteningShowWhereTheyDiffer() {
        let a = "aaaaaaaaaaaaaaaaaaaaaaaaaXaaaaaaaaaaaaaaaaaaaaaaaa", b = "aaaaaaaaaaaaaaaaaaaaaaaaaYaaaaaaaaaaaaaaaaaaaaaaaa"
        let out = NameShortener.shorten([(a, 12), (b, 12)])
        #expect(out[0] != out[1])
        #expect(out[0].contains("X") && out[1].contains("Y"))
    }
}
