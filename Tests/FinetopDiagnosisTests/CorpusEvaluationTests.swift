import FinetopCore
import Foundation
import Testing
@testable import FinetopDiagnosis

/// One labeled curve of the corpus (see Corpus/RULES.md for how labels were decided).
struct CorpusEntry {
    var file: String
    var label: String
    var ambiguous: Bool

    var path: String { CorpusEvaluation.directory + file }
}

/// The corpus, read from the test target's own folder so it works from a clean clone.
enum CorpusEvaluation {
    static let directory: String = {
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast()
        return parts.joined(separator: "/") + "/Corpus/"
    }()

    static func entries() throws -> [CorpusEntry] {
        let data = try Data(contentsOf: URL(fileURLWithPath: directory + "labels.json"))
        let list = try JSONParser.parse(data).array ?? []
        return list.compactMap { e in
            guard let file = e["file"]?.string, let label = e["label"]?.string else { return nil }
            return CorpusEntry(file: file, label: label, ambiguous: e["ambiguous"]?.bool ?? false)
        }
    }

    static var hasLabels: Bool { FileManager.default.fileExists(atPath: directory + "labels.json") }

    /// Rows: the corpus label; columns: ours.
    static func confusionMatrix(_ pairs: [(truth: String, ours: String)]) -> String {
        let names = FitLabel.allCases.map(\.rawValue)
        let width = (names.map(\.count).max() ?? 10) + 2
        func pad(_ s: String) -> String { String(repeating: " ", count: max(0, width - s.count)) + s }
        var lines = [pad("corpus \\ ours") + names.map(pad).joined()]
        for truth in names where pairs.contains(where: { $0.truth == truth }) {
            let row = names.map { ours in String(pairs.filter { $0.truth == truth && $0.ours == ours }.count) }
            lines.append(pad(truth) + row.map(pad).joined())
        }
        return lines.joined(separator: "\n")
    }
}

/// One overfitting curve compared with Keras `EarlyStopping(monitor="val_loss", patience=5)`.
struct EarlyStoppingRow {
    var file: String
    var valMin: Int
    /// Nil when EarlyStopping would have let the run finish.
    var esStop: Int?
    /// The first epoch the diagnosis showed overfitting, nil if never.
    var flagged: Int?
    var lastEpoch: Int

    /// Flagged no later than EarlyStopping stops (or, if it never stops, flagged at all).
    var noLaterThanES: Bool {
        guard let flagged else { return false }
        return flagged <= (esStop ?? lastEpoch)
    }

    var cells: [String] {
        func cell(_ v: Int?) -> String { v.map(String.init) ?? "-" }
        return [file, String(valMin), cell(esStop), cell(esStop.map { $0 - valMin }), cell(flagged), cell(flagged.map { $0 - valMin })]
    }

    static let header = ["curve", "val-min", "ES stop", "ES lag", "flagged", "our lag"]

    static func table(_ rows: [[String]]) -> String {
        rows.map { row in
            row.enumerated().map { k, c in c.padding(toLength: k == 0 ? 34 : 9, withPad: " ", startingAt: 0) }.joined()
        }.joined(separator: "\n")
    }
}

/// The evaluation report: both corpora scored, printed, and written into Corpus/SUMMARY.md between
/// markers when `FINETOP_SUMMARY=1` (so an ordinary test run never edits the tree).
@Suite struct CorpusReportTests {
    static let begin = "<!-- diagnosis-evaluation:begin -->"
    static let end = "<!-- diagnosis-evaluation:end -->"

    /// What the numbers below do and do not show.
    static let notes = """
        Read with care:
        - No threshold is fitted: each is a convention (deepchecks' 0.1, a 2σ noise test, Mann-Kendall at 5%,
          Keras patience), so the grouped cross-validation score equals the plain score. The harness fits
          through `Scorecard.score(fit:)` per fold should a fitted threshold ever be added.
        - The public corpus was labeled by `public/PROTOCOL.md`, written from the same issue 17 lessons the
          rules follow (10% and 2× noise for a turn, a 10-point gap, a plateau for underfitting); agreement
          there is agreement with those definitions, and the labeler never ran the classifier.
        - The generated corpus calls a run underfitting when it is 10 points below its task's reference run;
          the rules do not know the task and call a run still improving `fit` ("train longer"), so most of
          its underfitting curves disagree by design. Giving the reference as a target does not change them:
          they are still improving. Its turns were labeled without a noise test.
        - Flapping counts any X→Y→X over the whole history, including long stretches (fit×30 between two
          overfitting stretches of a run whose val_loss came back down).
        - Before this session's changes (commit 80cdbf3) the public corpus scored 134/142 = 94.4% (grouped
          CV the same), flapping 10/185 = 5.4%, fit curves called overfitting 2/87 = 2.3%; the generated
          corpus 68/101, flapping 1/125, 2/32. Changes since: underfitting is not entered while val_loss
          still improves clearly (ends `p072`'s fit→underfitting→fit), the noise leaves out jumps at control
          events (no corpus curve records one: the CSV logs carry no model revision or rate), and the
          layer_stats evidence (no corpus curve has layer_stats; tested on real Keras runs in Corpus/learning).


        """

    static func scorecards(baseline: Bool = false) throws -> [Scorecard] {
        let rules = baseline ? " — baseline rules (before issue 17)" : " — current rules"
        return [try Scorecard.score("Public corpus (public/manifest.json)" + rules, try Corpora.publicCurves(), baseline: baseline),
                try Scorecard.score("Generated corpus (labels.json)" + rules, try Corpora.generated(), baseline: baseline)]
            + (baseline ? [] : [try Scorecard.score("Generated corpus with each task's reference as the target (references.json)" + rules,
                                                    try Corpora.generatedWithTargets())])
    }

    @Test func reportScoresBothCorpora() throws {
        let cards = try Self.scorecards()
        let baseline = try Self.scorecards(baseline: true)
        let text = (cards + baseline).map(\.markdown).joined(separator: "\n")
        print(text)
        if ProcessInfo.processInfo.environment["FINETOP_SUMMARY"] == "1" {
            let path = Corpora.directory + "SUMMARY.md"
            var summary = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            if let a = summary.range(of: Self.begin), let b = summary.range(of: Self.end) {
                summary.removeSubrange(a.lowerBound..<b.upperBound)
            }
            while summary.hasSuffix("\n\n") { summary.removeLast() }
            if !summary.hasSuffix("\n") { summary += "\n" }
            summary += "\n"
            summary += Self.begin + "\n## Diagnosis evaluation (current rules, then the baseline rules before issue 17)\n\nWritten by `FINETOP_SUMMARY=1 swift test --filter CorpusReportTests`.\n\n"
                + Self.notes
                + text + Self.end + "\n"
            try summary.write(toFile: path, atomically: true, encoding: .utf8)
        }
        let generated = try #require(cards.last)
        #expect(!generated.results.isEmpty)
    }
}

/// What the rules must hold on the corpora, asserted at the level measured when they were
/// written (issue 17's targets for unseen curves: agreement ≥ 0.90, flapping ≤ 5%, fit runs ever
/// called overfitting ≤ 5%).
@Suite struct CorpusEvaluationTests {
    @Test func publicCorpusAgreesOnNinetyPercentOfClearCurves() throws {
        let card = try Scorecard.score("public", try Corpora.publicCurves())
        try #require(card.clear.count >= 30, "the public corpus is missing")
        #expect(card.agreement >= 0.90)
        #expect(card.falseOverfitRate <= 0.05)
        #expect(card.flappingRate <= 0.05)
    }

    /// The generated corpus labels underfitting against a reference run the rules cannot see; its
    /// fit, overfitting and diverging curves must still come out right.
    @Test func generatedCorpusNeverCallsFitCurvesOverfittingAndCatchesDivergence() throws {
        let card = try Scorecard.score("generated", try Corpora.generated())
        try #require(!card.clear.isEmpty)
        // Two generated "fit" curves (c049, c070) have train accuracy 12-15 points above val with val
        // flat: issue 17's rule (2) calls that overfitting; the generated corpus, judging against a
        // reference run, calls it fit. No other fit curve may be called overfitting.
        #expect(card.falseOverfit.count <= 2)
        #expect(card.flappingRate <= 0.08)
        let diverging = card.clear.filter { $0.curve.label == FitLabel.diverging.rawValue }
        #expect(diverging.filter(\.agrees).count >= diverging.count - 1)
        let fit = card.fitRuns
        #expect(fit.filter(\.agrees).count >= fit.count - 2)
    }

    @Test func flappingIsBelowTheBaselines() throws {
        let now = try Scorecard.score("public", try Corpora.publicCurves())
        let before = try Scorecard.score("public", try Corpora.publicCurves(), baseline: true)
        #expect(now.flappingRate < before.flappingRate)
        #expect(now.falseOverfitRate < before.falseOverfitRate)
    }
}
