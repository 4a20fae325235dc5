import Testing
import FinetopCore
import FinetopDiagnosis
@testable import FinetopTUI

/// The screen as users see it, at the sizes they have, with real layer lists: MobileNetV2 (Keras),
/// BERT (PyTorch names) and a 100,000-layer model. What must hold everywhere: no two visible layer
/// rows alike, no word cut without `…`, nothing of the frame left beside a pop-up.
@Suite struct ScreenSizeTests {
    static let sizes = [(60, 16), (80, 24), (120, 40), (200, 60)]
    static let models: [(String, Run)] = [("mobilenet", TestRuns.mobileNet()), ("bert", TestRuns.bert()), ("huge", TestRuns.huge())]

    static var cases: [(String, Int, Int)] { models.flatMap { m in sizes.map { (m.0, $0.0, $0.1) } } }

    /// One state per model, made once (the huge model's is costly), resized per test.
    static let states: [String: AppState] = Dictionary(uniqueKeysWithValues: models.map { name, run in
        var s = TestRuns.state(run, width: 80, height: 24, pinDiagnosis: true)
        s.report = TestRuns.pinnedReport(TestRuns.overfitting())   // long evidence and suggestions
        return (name, s)
    })

    func state(_ model: String, _ w: Int, _ h: Int) -> AppState {
        var s = Self.states[model] ?? TestRuns.state(TestRuns.empty())
        s.width = w
        s.height = h
        return s
    }

    /// The layer rows on screen (the table's rows under its header), as drawn.
    func tableRows(_ s: AppState) -> [String] {
        let buf = render(s)
        let l = Layout(width: s.width, height: s.height, tableWants: LayerTableView.wantedWidth(s.layerWidths))
        return (l.table.y + 1..<l.table.maxY).map { y in
            String(buf.lines[y].dropFirst(l.table.x + 1).prefix(l.table.width - 1))
        }.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
    }

    @Test(arguments: cases) func noTwoVisibleLayerRowsAlike(model: String, width: Int, height: Int) {
        var s = state(model, width, height)
        // The top of the table, then a page in the middle (BERT's layer.5, the huge model's 50,000th).
        for cursor in [0, s.layers.count / 2] {
            s.cursor = cursor
            keepCursorVisible(&s)
            let rows = tableRows(s)
            #expect(rows.count == min(s.layers.count, Layout(width: width, height: height).tableRows))
            // The name column alone: rows must not tell apart only by their params.
            let l = Layout(width: width, height: height, tableWants: LayerTableView.wantedWidth(s.layerWidths))
            let nameW = LayerTableView.columns(width: l.table.width, s.layerWidths).name
            let names = rows.map { String($0.prefix(nameW)) }
            #expect(Set(names).count == names.count, "names alike at \(width)x\(height):\n\(names.joined(separator: "\n"))")
        }
    }

    @Test(arguments: cases) func noWordCutWithoutEllipsis(model: String, width: Int, height: Int) {
        let s = state(model, width, height)
        let l = Layout(width: width, height: height, tableWants: LayerTableView.wantedWidth(s.layerWidths))
        let buf = render(s)
        let d = s.report.current
        let words = Set((d.evidence + d.suggestions.map(\.text) + ["[a]", "apply"]).flatMap { $0.split(separator: " ").map(String.init) })
        let breaks = Set("/._,=(")
        for y in l.diagnosis.y + 1..<l.diagnosis.maxY {
            let line = String(buf.lines[y].dropFirst(l.diagnosis.x + 1).prefix(l.diagnosis.width - 2))
            for token in line.split(separator: " ").map(String.init) where token != "·" && token != "→" {
                if token.hasSuffix("…") { continue }
                // A piece of a source word that ends where the word ends or after a break character.
                let ok = words.contains { w in w.contains(token) && (w.hasSuffix(token) || token.last.map(breaks.contains) == true) }
                #expect(ok, "\"\(token)\" is cut without … at \(width)x\(height): \(line)")
            }
        }
    }

    @Test(arguments: cases) func popUpsLeaveNoFrameDebris(model: String, width: Int, height: Int) throws {
        for key in [Key.char("?"), Key.char("o")] {
            var s = state(model, width, height)
            s.outputLines = ["Epoch 1/3", String(repeating: "x", count: 300)]
            let (open, _) = TestRuns.press(s, [key])
            let buf = render(open)
            let title = key == .char("?") ? "┌─ keys" : "┌─ output.log"
            let top = try #require(buf.lines.firstIndex { $0.contains(title) })
            let x = try #require(buf.lines[top].range(of: title)).lowerBound
            let left = buf.lines[top].distance(from: buf.lines[top].startIndex, to: x)
            let right = try #require(Array(buf.lines[top]).lastIndex(of: "┐"))
            let bottom = try #require((top..<height).first { Array(buf.lines[$0])[left] == "└" })
            // The ring around the box, inside the screen's border, is blank.
            for y in max(1, top - 1)...min(height - 2, bottom + 1) {
                for cx in [left - 1, right + 1] where cx >= 1 && cx <= width - 2 {
                    #expect(buf[cx, y].text == " ", "debris \(buf[cx, y].text) at \(cx),\(y) beside the pop-up at \(width)x\(height)")
                }
            }
            for cx in left...right {
                for y in [top - 1, bottom + 1] where y >= 1 && y <= height - 2 {
                    #expect(buf[cx, y].text == " ", "debris \(buf[cx, y].text) at \(cx),\(y) beside the pop-up at \(width)x\(height)")
                }
            }
            // No tee of the screen's border points into the blank ring.
            for y in max(1, top - 1)...min(height - 2, bottom + 1) {
                #expect(buf[0, y].text != "├" || left > 2)
                #expect(buf[width - 1, y].text != "┤" || right < width - 3)
            }
        }
    }

    @Test func classNamesWholeAt200x60() {
        let rows = tableRows(state("mobilenet", 200, 60))
        #expect(rows.contains { $0.contains("BatchNormalization") })
        var s = state("mobilenet", 200, 60)
        s.cursor = s.layers.count - 1
        keepCursorVisible(&s)
        #expect(tableRows(s).contains { $0.contains("DepthwiseConv2D") && $0.contains("block_16_depthwise ") })
        #expect(!tableRows(s).joined().contains("…"))
    }

    @Test func huggingFaceNamesWholeAt250Columns() {
        let rows = tableRows(state("bert", 250, 60))
        #expect(rows.contains { $0.contains("bert.encoder.layer.0.attention.self.query ") })
        #expect(!rows.joined().contains("…"))
    }

    @Test func bertNamesKeepTheLayerNumberAt80x24() {
        var s = state("bert", 80, 24)
        s.cursor = 40
        keepCursorVisible(&s)
        let rows = tableRows(s)
        // Every row still says which encoder layer it is.
        #expect(rows.filter { $0.contains("layer") || $0.contains(".l.") }.allSatisfy { $0.range(of: #"\.\d+\."#, options: .regularExpression) != nil })
    }

    @Test(arguments: [(80, 24), (100, 30)]) func longRejectionShowsWhole(width: Int, height: Int) {
        var s = state("mobilenet", width, height)
        var run = s.run
        run.acks.append(ControlAck(revision: 1, status: .rejected, message: "changing trainable flags needs a recompile, which Keras can't do inside model.fit (keras-team/keras#16234); train with finetop.keras.fit(model, ...) instead of model.fit(...) to apply layer toggles; training goes on unchanged"))
        s.acksSeen = 0
        (s, _) = reduce(s, .runUpdated(run, lastWrite: nil))
        let screen = render(s).lines.joined(separator: "\n")
        #expect(screen.contains("finetop.keras.fit(model,"))
        #expect(screen.contains("training goes on unchanged"))
        #expect(render(s).lines[height - 1].contains("q quit"))
    }
}
