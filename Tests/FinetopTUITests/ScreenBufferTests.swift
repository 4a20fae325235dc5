import Testing
import FinetopCore
@testable import FinetopTUI

@Suite struct ScreenBufferTests {
    @Test func wideCharactersTakeTwoCells() {
        var b = ScreenBuffer(width: 6, height: 1)
        let used = b.text("a漢b", x: 0, y: 0)
        #expect(used == 4)
        #expect(b.lines == ["a漢b  "])
        #expect(b[2, 0].isContinuation)
        // A wide character that does not fit in the last column becomes a blank.
        var c = ScreenBuffer(width: 3, height: 1)
        c.text("ab漢", x: 0, y: 0)
        #expect(c.lines == ["ab "])
    }

    @Test func overwritingHalfAWideCharacterLeavesNoStrayHalf() {
        var b = ScreenBuffer(width: 4, height: 1)
        b.text("漢字", x: 0, y: 0)
        b.text("x", x: 1, y: 0)
        #expect(b.lines == [" x字"])
    }

    @Test func escapeSequencesAndControlCharactersAreNeutralized() {
        var b = ScreenBuffer(width: 20, height: 1)
        b.text("a\u{1b}[31mb\u{7}\u{9b}c\u{202e}", x: 0, y: 0)
        let line = b.lines[0]
        #expect(!line.unicodeScalars.contains { $0.value < 0x20 || (0x7F..<0xA0).contains($0.value) || $0.value == 0x202E })
        #expect(line.hasPrefix("a?[31mb??c?"))
    }

    @Test func layerNamesWithEscapesNeverReachTheScreenRaw() {
        var run = TestRuns.overfitting()
        var layers = run.model?.layers ?? []
        layers[1].name = "evil\u{1b}]0;pwned\u{7}"
        run.model = LayerTable(revision: 0, layers: layers)
        run.epochs[0].values["\u{1b}[2Jmetric"] = 1
        let text = render(TestRuns.state(run, width: 120, height: 40)).lines.joined()
        #expect(!text.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 })
        #expect(text.contains("evil?]0;pwned?"))
    }

    @Test func truncationEndsWithEllipsis() {
        #expect(TextWidth.truncate("block_16_depthwise_relu", to: 10) == "block_16_…")
        #expect(TextWidth.truncate("short", to: 10) == "short")
        #expect(TextWidth.pad("7", to: 3, right: true) == "  7")
    }

    @Test func zeroSizedAndOneRowScreensDoNotCrash() {
        for (w, h) in [(0, 0), (1, 1), (200, 1), (1, 60), (59, 15)] {
            let b = render(TestRuns.state(TestRuns.overfitting(), width: w, height: h))
            #expect(b.width == w && b.height == h)
        }
    }

    @Test func hugeModelRendersOnlyVisibleRows() {
        var run = TestRuns.empty()
        run.model = LayerTable(revision: 0, layers: (0..<10_000).map {
            Layer(name: "layer_\($0)", className: "Dense", params: 10, trainableParams: 0, trainable: false)
        })
        let s = TestRuns.state(run, width: 120, height: 40)
        let (end, _) = TestRuns.press(s, [.char("G"), .char(" ")])
        #expect(end.cursor == 9_999)
        #expect(render(end).lines.contains { $0.contains("layer_9999") })
    }

    @Test func brailleChartHasDotsAndGapsForNaN() {
        let s = TestRuns.state(TestRuns.diverging(), width: 120, height: 40)
        let lines = render(s).lines
        #expect(lines.joined().unicodeScalars.contains { (0x2801...0x28FF).contains($0.value) })
    }

    @Test func chartCacheStartsOverForADifferentSeries() {
        let cache = ChartCache()
        let a = (0..<100).map { Double($0) }
        let e = [Int32](repeating: 0, count: 100)
        _ = cache.columns(values: Array(a.prefix(50)), epochs: Array(e.prefix(50)), metric: "loss", columns: 20, xMax: 1)
        let b = a.map { $0 + 1000 }
        let cols = cache.columns(values: b, epochs: e, metric: "loss", columns: 20, xMax: 1)
        #expect(cache.fullRecomputes == 2)
        #expect(cols.lo.compactMap { $0.isNaN ? nil : $0 }.min() == 1000)
    }

    @Test func chartCacheExtendsIncrementallyLikeAFullRecompute() {
        var values: [Double] = []
        var epochs: [Int32] = []
        for e in 0..<7 {
            for b in 0..<53 {
                values.append(Double((e * 53 + b) % 17) + (b == 7 ? .nan : 0))
                epochs.append(Int32(e))
            }
        }
        let incremental = ChartCache()
        var last: (lo: [Double], hi: [Double]) = ([], [])
        for n in stride(from: 10, through: values.count, by: 37) + [values.count] {
            last = incremental.columns(values: Array(values.prefix(n)), epochs: Array(epochs.prefix(n)), metric: "loss",
                                       columns: 120, xMax: 10)
        }
        let full = ChartCache().columns(values: values, epochs: epochs, metric: "loss", columns: 120, xMax: 10)
        #expect(incremental.fullRecomputes == 1)
        #expect(zip(last.lo, full.lo).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) })
        #expect(zip(last.hi, full.hi).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) })
    }
}
