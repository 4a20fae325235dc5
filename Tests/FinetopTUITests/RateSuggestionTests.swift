import Foundation
import Testing
import FinetopCore
import FinetopDiagnosis
@testable import FinetopTUI

/// `a` on the diagnosis's "raise / lower the learning rate 10×": one revision with
/// `learning_rate` = the job's current rate × the factor, through the same write as `+`/`-`
/// (the real `ControlFile.update` in a temporary run directory), refused with the reason on a
/// read-only run or when the rate is unknown.
@Suite struct RateSuggestionTests {
    /// The real Keras run of SGD at 1e-5 whose layers barely move (FinetopDiagnosisTests' corpus).
    static func tinyRate() throws -> Run {
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(2)
        let path = parts.joined(separator: "/") + "/FinetopDiagnosisTests/Corpus/learning/tiny_rate/events.jsonl"
        return try RunLoader.load(path: path)
    }

    static func report(_ factor: Double) -> DiagnosisReport {
        DiagnosisReport(current: Diagnosis(
            label: factor > 1 ? .underfitting : .diverging, sinceEpoch: 1, confidence: 0.8, epochs: 3, evidence: [],
            suggestions: [Suggestion(id: factor > 1 ? "raise_learning_rate" : "lower_learning_rate", text: "change the rate",
                                     action: .setLearningRate(factor: factor))]), history: [])
    }

    @Test func aOnTheRealDiagnosisWritesTenTimesTheCurrentRate() throws {
        let run = try Self.tinyRate()
        var h = TuningTests.Harness(run)
        defer { h.cleanUp() }
        h.state.report = Diagnoser.diagnose(run)
        #expect(h.state.report.current.suggestions.first?.action == .setLearningRate(factor: 10))
        let current = try #require(h.state.currentRate)
        #expect(current == 1e-5)
        // The job acknowledged revision 1 (it unfroze base_dense): the rate is the next revision.
        #expect(h.state.lastAckedRevision == 1)
        try h.press([.char("a")])
        #expect(h.writes.count == 1)
        let file = try #require(h.file)
        #expect(file.revision == 2)
        #expect(file.learningRate == 1e-4)
        #expect(abs((file.learningRate ?? 0) - current * 10) < 1e-18)
        #expect(file.trainable.isEmpty && !file.stop)
        #expect(h.state.message?.text.contains("learning rate 1e-05 → 0.0001 (the current ×10, as the diagnosis suggests)") == true,
                "\(h.state.message?.text ?? "")")
    }

    /// Pending, then applied like a toggle; a second `a` while pending does not multiply again.
    @Test func aLowersTheRateOnceAndTheHeaderFollowsTheJob() throws {
        var h = TuningTests.Harness(TuningTests.run("keras", rate: 1e-3))
        defer { h.cleanUp() }
        h.state.report = Self.report(0.1)
        try h.press([.char("a")])
        #expect(h.file?.learningRate == 1e-4)
        #expect(h.state.ratePending)
        #expect(h.header.contains("lr 0.001→0.0001 pending"), "\(h.header)")
        try h.press([.char("a")])
        #expect(h.writes.count == 1)
        #expect(h.state.message?.text.contains("already asked for (revision 1)") == true, "\(h.state.message?.text ?? "")")
        try h.ack(1, message: "learning rate 0.001 -> 0.0001 from epoch 4")
        #expect(!h.state.ratePending)
        #expect(h.header.contains("lr 0.0001") && !h.header.contains("pending"), "\(h.header)")
    }

    @Test func aIsRefusedOnAReadOnlyRunAndWhenTheRateIsUnknown() throws {
        var readOnly = TestRuns.state(TuningTests.run("keras"), readOnly: "Keras CSVLogger CSV is a finished log")
        readOnly.report = Self.report(10)
        let (refused, none) = TestRuns.press(readOnly, [.char("a")])
        #expect(none.isEmpty)
        #expect(refused.message?.text == "cannot raise the learning rate: read-only: Keras CSVLogger CSV is a finished log")

        var h = TuningTests.Harness(TuningTests.run("pytorch", rate: nil, hparamsRate: nil))
        defer { h.cleanUp() }
        h.state.report = Self.report(0.1)
        try h.press([.char("a")])
        #expect(h.writes.isEmpty)
        #expect(h.file == nil)
        #expect(h.state.message?.text == "cannot lower the learning rate: the job has not reported its rate yet (r sets one)")
    }

    /// The panel on the real run: the top suggestion names the rate and says `a` applies it. Only
    /// that suggestion is the real diagnosis's; the label and evidence are pinned, so rewording
    /// them elsewhere does not break this screen.
    @Test func thePanelOffersTheRateChangeToA() throws {
        let run = try Self.tinyRate()
        var s = TestRuns.state(run, width: 120, height: 40)
        let top = try #require(Diagnoser.diagnose(run).current.suggestions.first)
        s.report = DiagnosisReport(current: Diagnosis(label: .underfitting, sinceEpoch: 3, confidence: 0.95, epochs: 14,
                                                      evidence: ["every trainable layer barely moves"], suggestions: [top]),
                                   history: [])
        let screen = render(s).lines.joined(separator: "\n")
        #expect(screen.contains("raise SGD's learning rate to 0.0001"), "\(screen)")
        #expect(screen.contains("[a] apply"), "\(screen)")
        assertSnapshot("tiny_rate_raise_rate_120x40", s)
    }
}
