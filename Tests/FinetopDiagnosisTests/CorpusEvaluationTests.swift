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

    static func scorecards(baseline: Bool = false) throws -> [Scorecard] {
        let rules = baseline ? " — baseline rules (before issue 17)" : " — current rules"
        return [try Scorecard.score("Public corpus (public/manifest.json)" + rules, try Corpora.publicCurves(), baseline: baseline),
                try Scorecard.score("Generated corpus (labels.json)" + rules, try Corpora.generated(), baseline: baseline)]
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
            if !summary.hasSuffix("\n") { summary += "\n" }
            summary += Self.begin + "\n## Diagnosis evaluation (current rules, then the baseline rules before issue 17)\n\nWritten by `FINETOP_SUMMARY=1 swift test --filter CorpusReportTests`.\n\n"
                + text + Self.end + "\n"
            try summary.write(toFile: path, atomically: true, encoding: .utf8)
        }
        let generated = try #require(cards.last)
        #expect(!generated.results.isEmpty)
    }
}

@Suite struct CorpusEvaluationTests {
    @Test(.enabled(if: CorpusEvaluation.hasLabels))
    func agreesWithTheCorpusLabelsOnNinetyPercentOfClearCurves() throws {
        let entries = try CorpusEvaluation.entries().filter { !$0.ambiguous }
        try #require(!entries.isEmpty)
        var pairs: [(truth: String, ours: String)] = []
        var misses: [String] = []
        for e in entries {
            let ours = Diagnoser.diagnose(try RunLoader.load(path: e.path)).current.label.rawValue
            pairs.append((e.label, ours))
            if ours != e.label { misses.append("  \(e.file): corpus \(e.label), ours \(ours)") }
        }
        let agree = pairs.filter { $0.truth == $0.ours }.count
        let accuracy = Double(agree) / Double(pairs.count)
        print("Corpus agreement: \(agree)/\(pairs.count) = \(NumberText.percent(accuracy)) (non-ambiguous curves)")
        print(CorpusEvaluation.confusionMatrix(pairs))
        if !misses.isEmpty { print("Disagreements:\n" + misses.joined(separator: "\n")) }
        let ambiguous = try CorpusEvaluation.entries().filter(\.ambiguous)
        let nominal = try ambiguous.filter { Diagnoser.diagnose(try RunLoader.load(path: $0.path)).current.label.rawValue == $0.label }
        print("Ambiguous curves (not scored): \(nominal.count)/\(ambiguous.count) agree with their nominal label")
        #expect(accuracy >= 0.9)
    }

    /// Prints the whole table and the rate over all overfitting curves. The assertion is on the
    /// curves where EarlyStopping stops at or after the val_loss minimum, or never: where it stops
    /// before the minimum it stopped on a stall that val_loss later got out of, and saying
    /// "overfitting" there would be a false alarm, not a faster diagnosis.
    @Test(.enabled(if: CorpusEvaluation.hasLabels))
    func flagsOverfittingNoLaterThanEarlyStoppingWithPatienceFive() throws {
        var rows: [EarlyStoppingRow] = []
        for e in try CorpusEvaluation.entries() where !e.ambiguous && e.label == FitLabel.overfitting.rawValue {
            let run = try RunLoader.load(path: e.path)
            let curves = Curves(run)
            let val = curves.valLoss.map { $0 ?? .nan }
            guard let valMin = val.indices.min(by: { Self.less(val[$0], val[$1]) }) else { continue }
            let history = Diagnoser.diagnose(run).history
            let flagged = history.indices.first { history[$0].label == .overfitting }
            rows.append(EarlyStoppingRow(file: e.file, valMin: valMin, esStop: EarlyStoppingRule(patience: 5).stopIndex(curves.valLoss),
                                         flagged: flagged, lastEpoch: curves.count - 1))
        }
        try #require(!rows.isEmpty)
        let meaningful = rows.filter { ($0.esStop ?? $0.valMin) >= $0.valMin }
        let onTime = rows.filter(\.noLaterThanES).count
        let meaningfulOnTime = meaningful.filter(\.noLaterThanES).count
        print("EarlyStopping(patience=5) comparison on overfitting curves (record indices; lag = epochs after the val_loss minimum):")
        print(EarlyStoppingRow.table([EarlyStoppingRow.header] + rows.map(\.cells)))
        print("flagged no later than EarlyStopping: \(onTime)/\(rows.count) of all; "
            + "\(meaningfulOnTime)/\(meaningful.count) where EarlyStopping stops at or after the val_loss minimum (or never)")
        #expect(Double(meaningfulOnTime) >= 0.9 * Double(meaningful.count))
    }

    /// The final label must not be overfitting on fit curves; prints every fit curve that ends
    /// there, and those that show overfitting at any epoch, so the note can name them.
    @Test(.enabled(if: CorpusEvaluation.hasLabels))
    func fitCurvesRarelyEndOnOverfitting() throws {
        var endWrong: [String] = []
        var everWrong: [String] = []
        var count = 0
        for e in try CorpusEvaluation.entries() where !e.ambiguous && e.label == FitLabel.fit.rawValue {
            count += 1
            let report = Diagnoser.diagnose(try RunLoader.load(path: e.path))
            if report.current.label == .overfitting { endWrong.append(e.file) }
            if report.history.contains(where: { $0.label == .overfitting }) { everWrong.append(e.file) }
        }
        print("fit curves ending on overfitting: \(endWrong.count)/\(count) \(endWrong)")
        print("fit curves showing overfitting at some epoch: \(everWrong.count)/\(count) \(everWrong)")
        #expect(Double(endWrong.count) <= 0.1 * Double(count))
    }

    /// NaN sorts last, so the minimum is a real value.
    static func less(_ a: Double, _ b: Double) -> Bool {
        if a.isNaN { return false }
        if b.isNaN { return true }
        return a < b
    }
}
