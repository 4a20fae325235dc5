import Testing
import FinetopCore
import FinetopDiagnosis
@testable import FinetopTUI

@Suite struct ReducerTests {
    let start = TestRuns.state(TestRuns.mobileNet())

    /// The change a write effect asks for, as the file it would produce on an empty run directory.
    func written(_ effects: [Effect]) -> ControlFile? {
        for e in effects {
            switch e {
            case .writeControl(let c):
                return ControlFile(revision: c.atLeast, trainable: c.trainable, stop: c.stop ?? false, stopRunID: c.stopRunID)
            case .quit, .interruptJob, .readOutput, .signalJobGroup, .repaint: continue
            }
        }
        return nil
    }

    @Test func spaceTogglesLayerUnderCursor() throws {
        let (s, effects) = TestRuns.press(start, [.char("j"), .char(" ")])
        let file = try #require(written(effects))
        #expect(file.revision == 1)
        #expect(file.trainable == ["Conv1": true])
        #expect(file.stop == false)
        #expect(s.pendingFlag(s.layers[1]) == true)
        #expect(s.shownFlag(s.layers[1]))
        #expect(s.pendingCount == 1)
    }

    @Test func togglingTwiceCancelsThePendingMark() throws {
        let (s, effects) = TestRuns.press(start, [.char("j"), .char(" "), .char(" ")])
        #expect(effects.count == 2)
        let last = try #require(written(Array(effects.dropFirst())))
        #expect(last.revision == 2)
        #expect(last.trainable == ["Conv1": false])
        #expect(s.pendingCount == 0)
    }

    @Test func layersWithoutWeightsCannotBeToggled() {
        let (s, effects) = TestRuns.press(start, [.char(" ")])   // input_layer
        #expect(effects.isEmpty)
        #expect(s.message?.text.contains("no weights") == true)
    }

    @Test func ackTurnsPendingIntoApplied() throws {
        let (toggled, effects) = TestRuns.press(start, [.char("j"), .char(" ")])
        let file = try #require(written(effects))
        var run = toggled.run
        var layers = run.model?.layers ?? []
        layers[1].trainable = true
        layers[1].trainableParams = layers[1].params
        run.model = LayerTable(revision: 1, layers: layers)
        run.acks.append(ControlAck(revision: file.revision, status: .applied, changed: ["Conv1"]))
        let (applied, _) = reduce(toggled, .runUpdated(run, lastWrite: nil))
        #expect(applied.pendingFlag(applied.layers[1]) == nil)
        #expect(applied.shownFlag(applied.layers[1]))
        #expect(applied.run.model?.totals.trainable == 412_800 + 864)
        #expect(applied.message?.text.contains("applied revision 1") == true)
    }

    @Test func rejectedAckIsShownAndClearsPending() {
        let (toggled, _) = TestRuns.press(start, [.char("j"), .char(" ")])
        var run = toggled.run
        run.acks.append(ControlAck(revision: 1, status: .rejected, message: "unknown layer"))
        let (s, _) = reduce(toggled, .runUpdated(run, lastWrite: nil))
        #expect(s.pendingCount == 0)
        #expect(s.message?.kind == .error)
        #expect(s.message?.text.contains("unknown layer") == true)
    }

    @Test func revisionRisesAboveFileAndAcks() throws {
        let existing = ControlFile(revision: 5, trainable: ["Conv_1": false])
        var run = TestRuns.mobileNet()
        run.acks.append(ControlAck(revision: 7, status: .applied))
        let s = TestRuns.state(run, control: existing)
        let (_, effects) = TestRuns.press(s, [.char("j"), .char(" ")])
        let file = try #require(written(effects))
        #expect(file.revision == 8)
        // Only this dashboard's change is sent; ControlFile.update merges it into the file, keeping
        // the earlier Conv_1 (and any other dashboard's flags): see ControlMergeTests.
        #expect(file.trainable == ["Conv1": true])
        #expect(s.control.desired == ["Conv_1": false])
    }

    @Test func restartShowsUnackedChangesAsPending() {
        let existing = ControlFile(revision: 3, trainable: ["Conv1": true])
        let s = TestRuns.state(TestRuns.mobileNet(), control: existing)
        #expect(s.pendingFlag(s.layers[1]) == true)
        #expect(s.trainableAfterPending == 412_800 + 864)
    }

    @Test func unfreezeFromCursorToTheEnd() throws {
        let s = start
        let n = s.layers.count
        let (after, effects) = TestRuns.press(s, [.char("G")] + Array(repeating: Key.up, count: 19) + [.char("u")])
        let file = try #require(written(effects))
        let expected = s.layers[(n - 20)...].filter { $0.hasWeights && !$0.trainable }.map(\.name)
        #expect(Set(file.trainable.keys) == Set(expected))
        #expect(file.trainable.values.allSatisfy { $0 })
        #expect(after.pendingCount == expected.count)
        #expect(after.message?.text.contains("last 20 layers") == true)
    }

    @Test func freezeFromTopToCursor() throws {
        let (_, effects) = TestRuns.press(start, [.char("G"), .char("f")])
        let file = try #require(written(effects))
        #expect(Set(file.trainable.keys) == ["block_16_project_BN", "Conv_1", "Conv_1_bn"])
        #expect(file.trainable.values.allSatisfy { !$0 })
    }

    @Test func pendingTotalsCountHalfOfBatchNorm() {
        // bn_Conv1 has 128 params: gamma and beta train, the moving statistics never do.
        let (s, _) = TestRuns.press(start, [.char("j"), .char("j"), .char(" ")])
        #expect(s.layers[2].className == "BatchNormalization")
        #expect(s.trainableAfterPending == 412_800 + 64)
    }

    @Test func unfreezingANestedModelCountsItsChildren() {
        // base holds conv (864), bn (128: 64 trainable) and conv_2 (864).
        let (s, _) = TestRuns.press(TestRuns.state(TestRuns.nested()), [.char("j"), .char(" ")])
        #expect(s.layers[s.cursor].name == "base")
        #expect(s.trainableAfterPending == 325 + 864 + 64 + 864)
    }

    @Test func applyingAStopSuggestionAsksFirst() throws {
        var s = start
        s.report = DiagnosisReport(
            current: Diagnosis(label: .overfitting, sinceEpoch: 9, confidence: 0.9, epochs: 14, evidence: [],
                               suggestions: [Suggestion(id: "early_stopping", text: "stop now", action: .stopJob)]),
            history: [])
        let (asked, none) = TestRuns.press(s, [.char("a")])
        #expect(none.isEmpty)
        #expect(asked.confirm == .stopJob)
        let (_, effects) = TestRuns.press(asked, [.char("y")])
        #expect(try #require(written(effects)).stop)
    }

    @Test func readOnlyRunExplainsWhyToggleDoesNothing() {
        let s = TestRuns.state(TestRuns.mobileNet(), readOnly: "Keras CSVLogger CSV is a finished log")
        let (after, effects) = TestRuns.press(s, [.char("j"), .char(" ")])
        #expect(effects.isEmpty)
        #expect(after.message?.text.hasPrefix("read-only") == true)
        #expect(after.pendingCount == 0)
    }

    @Test func stopAsksFirst() throws {
        let (asked, none) = TestRuns.press(start, [.char("s")])
        #expect(none.isEmpty)
        #expect(asked.confirm == .stopJob)
        let (declined, noEffects) = TestRuns.press(asked, [.char("n")])
        #expect(noEffects.isEmpty)
        #expect(declined.confirm == nil)
        let (stopped, effects) = TestRuns.press(asked, [.char("y")])
        let file = try #require(written(effects))
        #expect(file.stop)
        #expect(stopped.stopPending)
    }

    @Test func applyTopSuggestionUsesThePendingPath() throws {
        var s = start
        s.report = DiagnosisReport(
            current: Diagnosis(label: .underfitting, sinceEpoch: 2, confidence: 0.8, epochs: 5, evidence: [],
                               suggestions: [Suggestion(id: "unfreeze", text: "unfreeze the last 2 layers",
                                                        action: .setTrainable(["Conv1": true, "no_such_layer": true]))]),
            history: [])
        let (after, effects) = TestRuns.press(s, [.char("a")])
        let file = try #require(written(effects))
        #expect(file.trainable == ["Conv1": true])
        #expect(after.pendingFlag(after.layers[1]) == true)
    }

    @Test func searchJumpsToMatchAndNFindsNext() {
        let (found, _) = TestRuns.press(start, [.char("/")] + TestRuns.type("block_16") + [.enter])
        #expect(found.layers[found.cursor].name == "block_16_expand")
        let (next, _) = TestRuns.press(found, [.char("n")])
        #expect(next.layers[next.cursor].name == "block_16_expand_BN")
        #expect(!next.searching)
    }

    @Test func cursorStaysVisibleWhenPagingAndResizing() {
        let (paged, _) = TestRuns.press(start, [.pageDown, .pageDown])
        let rows = Layout(width: 80, height: 24).tableRows
        #expect(paged.cursor == 2 * rows)
        #expect(paged.cursor >= paged.scroll && paged.cursor < paged.scroll + rows)
        let (small, _) = reduce(paged, .resize(width: 80, height: 17))
        let smallRows = Layout(width: 80, height: 17).tableRows
        #expect(small.cursor >= small.scroll && small.cursor < small.scroll + smallRows)
    }

    @Test func logScaleOnlyWhenAllValuesPositive() {
        let (on, _) = TestRuns.press(TestRuns.state(TestRuns.overfitting()), [.char("l")])
        #expect(on.logScale)
        var run = TestRuns.overfitting()
        run.epochs[3].values["loss"] = -0.5
        let (off, _) = TestRuns.press(TestRuns.state(run), [.char("l")])
        #expect(!off.logScale)
        #expect(off.message?.kind == .warning)
    }

    @Test func metricKeyCyclesThroughEpochMetrics() {
        let s = TestRuns.state(TestRuns.overfitting())
        #expect(s.metric == "loss")
        let (m1, _) = TestRuns.press(s, [.char("m")])
        #expect(m1.metric == "accuracy")
        let (m2, _) = TestRuns.press(m1, [.char("m")])
        #expect(m2.metric == "loss")
    }

    @Test func qQuits() {
        let (s, effects) = TestRuns.press(start, [.char("q")])
        #expect(s.shouldQuit)
        #expect(effects == [.quit])
    }

    @Test func controlWrittenAtHigherRevisionIsFollowed() {
        let (toggled, _) = TestRuns.press(start, [.char("j"), .char(" ")])
        let (s, _) = reduce(toggled, .controlWritten(ControlFile(revision: 4, trainable: ["Conv1": true]),
                                                     ControlChange(trainable: ["Conv1": true], atLeast: 1)))
        #expect(s.control.revision == 4)
        #expect(s.control.changedAt["Conv1"] == 4)
        var run = s.run
        run.acks.append(ControlAck(revision: 3, status: .applied))
        let (stillPending, _) = reduce(s, .runUpdated(run, lastWrite: nil))
        #expect(stillPending.pendingCount == 1)
    }

    @Test func headerSaysStaleAfterAMinuteWithoutWrites() {
        var s = TestRuns.state(TestRuns.overfitting())
        #expect(s.liveness == .live)
        (s, _) = reduce(s, .tick(now: 1_763_900_090 + 300))
        #expect(s.liveness == .stale(seconds: 300))
        #expect(render(s).lines[0].contains("stale: no writes for 5m"))
    }

    @Test func headerCountsSkippedLinesAndSaysWhenTheJobEnded() {
        var run = TestRuns.overfitting()
        run.skippedLines = 3
        run.end = RunEnd(reason: "early_stopping")
        let top = render(TestRuns.state(run, width: 120, height: 40)).lines[0]
        #expect(top.contains("3 skipped lines"))
        #expect(top.contains("finished (early_stopping)"))
        #expect(top.contains("epoch 20/30"))
    }

    @Test func logScaleIsLabelledAndSkipsNaN() {
        let (s, _) = TestRuns.press(TestRuns.state(TestRuns.diverging(), width: 120, height: 40), [.char("l")])
        #expect(s.logScale)
        let lines = render(s).lines
        #expect(lines[1].contains("loss (log)"))
        #expect(!lines[1..<24].contains { $0.contains("NaN") || $0.contains("Inf") })
    }

    @Test func notesFadeButQuestionsWait() {
        let (noted, _) = TestRuns.press(start, [.char(" ")])
        #expect(noted.message != nil)
        let (soon, _) = reduce(noted, .tick(now: noted.now + 3))
        #expect(soon.message != nil)
        let (later, _) = reduce(soon, .tick(now: noted.now + StatusMessage.lifetime + 1))
        #expect(later.message == nil)
        let (asked, _) = TestRuns.press(start, [.char("s")])
        let (stillAsked, _) = reduce(asked, .tick(now: asked.now + 100))
        #expect(stillAsked.confirm == .stopJob)
    }

    @Test func realClassifierLabelsTheSyntheticRuns() {
        let over = TestRuns.state(TestRuns.overfitting(), width: 120, height: 40)
        #expect(over.report.current.label == .overfitting)
        #expect(render(over).lines.contains { $0.contains("OVERFITTING since epoch") })
        let div = TestRuns.state(TestRuns.diverging(), width: 120, height: 40)
        #expect(div.report.current.label == .diverging)
        #expect(render(div).lines.contains { $0.contains("DIVERGING since epoch") })
    }

    @Test func optionsFollowEnvironment() {
        #expect(DashboardOptions.detect(environment: ["LANG": "en_US.UTF-8"], noColorFlag: false) == DashboardOptions(color: true, ascii: false))
        #expect(DashboardOptions.detect(environment: ["LANG": "en_US.UTF-8", "NO_COLOR": "1"], noColorFlag: false).color == false)
        #expect(DashboardOptions.detect(environment: ["LANG": "C"], noColorFlag: true) == DashboardOptions(color: false, ascii: true))
        #expect(DashboardOptions.detect(environment: ["LANG": "C", "LC_ALL": "C.UTF-8"], noColorFlag: false).ascii == false)
    }
}
