import FinetopCore
import Foundation
@testable import FinetopDiagnosis

/// One labeled curve of either corpus, with the group (source project) it came from.
struct LabeledCurve {
    var id: String
    var path: String
    var label: String
    var ambiguous: Bool
    /// The source project: curves of one project are never split between fitting and scoring.
    var group: String
    var numClasses: Int?
    /// The epoch (0-based) the labeler saw overfitting begin, when the corpus says.
    var onsetEpoch: Int?
    /// A target the run would carry (`target` in its hparams), for scoring with avoidable bias.
    var target = Target()

    /// The run as the diagnosis sees it, with the class count the corpus knows (as a run line would carry it).
    func load() throws -> Run {
        var run = try RunLoader.load(path: path)
        if let numClasses {
            var info = run.info ?? RunInfo(framework: "keras")
            info.task = TaskInfo(kind: "classification", numClasses: numClasses, loss: info.task?.loss)
            run.info = info
        }
        return run
    }
}

/// What the diagnosis said about one curve: the final label and the label at every epoch.
struct CurveResult {
    var curve: LabeledCurve
    var final: String
    var history: [FitLabel]
    /// Record indices of the curve's val_loss, for the EarlyStopping anchor.
    var valLoss: [Double?]

    var agrees: Bool { final == curve.label }

    /// The per-epoch label goes X → Y → X somewhere (runs of the same label collapsed).
    var flaps: Bool {
        var runs: [FitLabel] = []
        for l in history where runs.last != l { runs.append(l) }
        guard runs.count >= 3 else { return false }
        return (2..<runs.count).contains { runs[$0] == runs[$0 - 2] }
    }

    /// "fit×12 overfitting×3 fit×5": the per-epoch labels as runs.
    var sequence: String {
        var runs: [(FitLabel, Int)] = []
        for l in history { if runs.last?.0 == l { runs[runs.count - 1].1 += 1 } else { runs.append((l, 1)) } }
        return runs.map { "\($0.0.rawValue)×\($0.1)" }.joined(separator: " ")
    }

    var everOverfitting: Bool { history.contains(.overfitting) }

    /// The first index of the last stretch of overfitting (nil if the run does not end on it),
    /// or the first overfitting index when it ends elsewhere.
    var onset: Int? { history.firstIndex(of: .overfitting) }
}

/// Reads the two corpora and scores the diagnosis on them.
enum Corpora {
    static let directory: String = {
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast()
        return parts.joined(separator: "/") + "/Corpus/"
    }()

    /// The generated corpus (labels.json): groups are the tasks (one script made them all, so a task
    /// — a dataset, split and training subset — is the closest thing to a project); the public curves
    /// in it are grouped by their repository.
    /// The generated corpus with each task's reference run as the target: its best val accuracy
    /// (classification) or val_loss (regression), from references.json.
    static func generatedWithTargets() throws -> [LabeledCurve] {
        let url = URL(fileURLWithPath: directory + "references.json")
        guard FileManager.default.fileExists(atPath: url.path) else { return [] }
        let refs = try JSONParser.parse(try Data(contentsOf: url))
        let list = try JSONParser.parse(try Data(contentsOf: URL(fileURLWithPath: directory + "labels.json"))).array ?? []
        let tasks = Dictionary(list.compactMap { e in e["file"]?.string.flatMap { f in e["task"]?.string.map { (f, $0) } } },
                               uniquingKeysWith: { a, _ in a })
        return try generated().map { c in
            var c = c
            if let task = tasks[c.id], let ref = refs[task] {
                c.target = Target(accuracy: ref["val_acc"]?.double, loss: ref["val_acc"] == nil ? ref["val_loss"]?.double : nil)
            }
            return c
        }
    }

    static func generated() throws -> [LabeledCurve] {
        let url = URL(fileURLWithPath: directory + "labels.json")
        guard FileManager.default.fileExists(atPath: url.path) else { return [] }
        let list = try JSONParser.parse(try Data(contentsOf: url)).array ?? []
        let classes = ["digits": 10, "digits_small": 10, "synth": 4, "breast_cancer": 2, "wine": 3,
                       "ft40": 5, "ft100": 5, "ft300": 5]
        return list.compactMap { e in
            guard let file = e["file"]?.string, let label = e["label"]?.string else { return nil }
            let task = e["task"]?.string ?? "?"
            let group = task == "public" ? repository(e["source"]?.string ?? file) : "generated:" + task
            return LabeledCurve(id: file, path: directory + file, label: label, ambiguous: e["ambiguous"]?.bool ?? false,
                                group: group, numClasses: classes[task], onsetEpoch: nil)
        }
    }

    /// The public corpus (public/manifest.json + public/curves/<id>.csv), written by its collector:
    /// either an array of objects with `id`, or an object keyed by id.
    static func publicCurves() throws -> [LabeledCurve] {
        let base = directory + "public/"
        let url = URL(fileURLWithPath: base + "manifest.json")
        guard FileManager.default.fileExists(atPath: url.path) else { return [] }
        let root = try JSONParser.parse(try Data(contentsOf: url))
        var items: [(String, JSONValue)] = []
        if let list = root.array ?? root["curves"]?.array ?? root["runs"]?.array {
            items = list.compactMap { e in e["id"]?.string.map { ($0, e) } }
        } else if let pairs = root.objectPairs {
            items = pairs
        }
        return items.compactMap { id, e in
            guard let label = e["label"]?.string else { return nil }
            let path = base + "curves/" + id + ".csv"
            guard FileManager.default.fileExists(atPath: path) else { return nil }
            return LabeledCurve(id: id, path: path, label: label, ambiguous: e["ambiguous"]?.bool ?? false,
                                group: e["project"]?.string ?? id, numClasses: e["num_classes"]?.int,
                                onsetEpoch: e["onset_epoch"]?.int)
        }
    }

    /// "https://github.com/owner/name/blob/…" → "owner/name".
    static func repository(_ source: String) -> String {
        let parts = source.split(separator: "/")
        guard let host = parts.firstIndex(of: "github.com"), parts.count > host + 2 else { return source }
        return parts[host + 1] + "/" + parts[host + 2]
    }

    /// `baseline`: the rules before issue 17 (Baseline/BaselineRules.swift) instead of the current ones.
    static func run(_ curve: LabeledCurve, _ t: Thresholds, baseline: Bool = false) throws -> CurveResult {
        let run = try curve.load()
        let valLoss = Curves(run).valLoss
        if baseline {
            let history = Baseline.history(run)
            return CurveResult(curve: curve, final: (history.last ?? .tooEarly).rawValue, history: history, valLoss: valLoss)
        }
        let report = Diagnoser.diagnose(run, thresholds: t, target: curve.target)
        return CurveResult(curve: curve, final: report.current.label.rawValue, history: report.history.map(\.label),
                           valLoss: valLoss)
    }
}

/// The numbers the summary reports for one corpus.
struct Scorecard {
    var name: String
    var results: [CurveResult]
    /// Accuracy on held-out groups, non-ambiguous curves.
    var cvAgree: Int
    var cvCount: Int
    var folds: Int
    var fitted: String

    var clear: [CurveResult] { results.filter { !$0.curve.ambiguous } }
    var ambiguous: [CurveResult] { results.filter(\.curve.ambiguous) }
    var agreement: Double { clear.isEmpty ? 0 : Double(clear.filter(\.agrees).count) / Double(clear.count) }
    var cvAccuracy: Double { cvCount == 0 ? 0 : Double(cvAgree) / Double(cvCount) }
    var flapping: [CurveResult] { results.filter(\.flaps) }
    var flappingRate: Double { results.isEmpty ? 0 : Double(flapping.count) / Double(results.count) }
    var fitRuns: [CurveResult] { clear.filter { $0.curve.label == FitLabel.fit.rawValue } }
    var falseOverfit: [CurveResult] { fitRuns.filter(\.everOverfitting) }
    var falseOverfitRate: Double { fitRuns.isEmpty ? 0 : Double(falseOverfit.count) / Double(fitRuns.count) }
    var groups: Int { Set(results.map(\.curve.group)).count }

    static func percent(_ x: Double) -> String { String(format: "%.1f%%", 100 * x) }

    /// Grouped k-fold: groups are dealt round-robin (sorted by name) into `k` folds; `fit` chooses
    /// thresholds from the other folds' curves, which are then scored on this fold.
    static func score(_ name: String, _ curves: [LabeledCurve], k: Int = 5, baseline: Bool = false,
                      fitted: String = "none (every threshold is a convention), so the score is the plain score",
                      fit: ([LabeledCurve]) -> Thresholds = { _ in Thresholds() }) throws -> Scorecard {
        let plain = try curves.map { try Corpora.run($0, Thresholds(), baseline: baseline) }
        let groups = Array(Set(curves.map(\.group))).sorted()
        let folds = max(1, min(k, groups.count))
        var agree = 0
        var count = 0
        for f in 0..<folds {
            let held = Set(groups.enumerated().filter { $0.offset % folds == f }.map(\.element))
            let t = fit(curves.filter { !held.contains($0.group) })
            for c in curves where held.contains(c.group) && !c.ambiguous {
                let r = t == Thresholds() || baseline ? plain.first { $0.curve.id == c.id } : try Corpora.run(c, t)
                count += 1
                if r?.agrees == true { agree += 1 }
            }
        }
        return Scorecard(name: name, results: plain, cvAgree: agree, cvCount: count, folds: folds, fitted: fitted)
    }

    /// Rows: the corpus label; columns: ours.
    var confusion: String {
        let names = FitLabel.allCases.map(\.rawValue)
        var lines = ["| corpus \\ ours | " + names.joined(separator: " | ") + " |",
                     "|---|" + names.map { _ in "---:" }.joined(separator: "|") + "|"]
        for truth in names where clear.contains(where: { $0.curve.label == truth }) {
            let row = names.map { ours in String(clear.filter { $0.curve.label == truth && $0.final == ours }.count) }
            lines.append("| \(truth) | " + row.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n")
    }

    /// Overfitting curves: our first overfitting epoch vs the labeler's onset and Keras
    /// EarlyStopping(monitor="val_loss", patience=5)'s stop, all as 0-based record indices.
    var onsetTable: String {
        let rows = clear.filter { $0.curve.label == FitLabel.overfitting.rawValue }
        guard !rows.isEmpty else { return "(no overfitting curves)" }
        var lines = ["| curve | labeled onset | ours | EarlyStopping(p=5) stop | ours − onset | ES − onset |", "|---|---:|---:|---:|---:|---:|"]
        var oursLags: [Int] = []
        var esLags: [Int] = []
        var noLater = 0
        var flagged = 0
        for r in rows {
            let es = EarlyStoppingRule(patience: 5).stopIndex(r.valLoss)
            let anchor = r.curve.onsetEpoch ?? Self.argmin(r.valLoss)
            func cell(_ v: Int?) -> String { v.map(String.init) ?? "-" }
            let ours = r.onset
            if let ours { flagged += 1; if ours <= (es ?? r.history.count - 1) { noLater += 1 } }
            if let ours, let anchor { oursLags.append(ours - anchor) }
            if let es, let anchor { esLags.append(es - anchor) }
            lines.append("| \(r.curve.id) | \(cell(anchor)) | \(cell(ours)) | \(cell(es)) | \(cell(ours.flatMap { o in anchor.map { o - $0 } })) | \(cell(es.flatMap { e in anchor.map { e - $0 } })) |")
        }
        func median(_ xs: [Int]) -> String {
            guard !xs.isEmpty else { return "-" }
            let s = xs.sorted()
            return String(format: "%.1f", s.count % 2 == 1 ? Double(s[s.count / 2]) : Double(s[s.count / 2 - 1] + s[s.count / 2]) / 2)
        }
        lines.append("")
        lines.append("Onset anchor: the labeled `onset_epoch` where the corpus has one, else the val_loss minimum. "
            + "Flagged at some epoch: \(flagged)/\(rows.count); no later than EarlyStopping(p=5) (or its end of run): \(noLater)/\(rows.count). "
            + "Median lag after the anchor: ours \(median(oursLags)) epochs, EarlyStopping(p=5) \(median(esLags)) epochs (it never stops on \(rows.count - esLags.count)).")
        return lines.joined(separator: "\n")
    }

    static func argmin(_ xs: [Double?]) -> Int? {
        var best: (Int, Double)?
        for (i, x) in xs.enumerated() { if let x, x.isFinite, x < (best?.1 ?? .infinity) { best = (i, x) } }
        return best?.0
    }

    var markdown: String {
        guard !results.isEmpty else { return "### \(name)\n\n(no curves yet)\n" }
        var out = "### \(name)\n\n"
        out += "- curves: \(results.count) from \(groups) source groups; scored (not ambiguous): \(clear.count); ambiguous: \(ambiguous.count)\n"
        out += "- agreement on clear curves: \(clear.filter(\.agrees).count)/\(clear.count) = \(Self.percent(agreement))\n"
        out += "- grouped cross-validation (\(folds) folds by source group; thresholds fitted: \(fitted)): "
            + "\(cvAgree)/\(cvCount) = \(Self.percent(cvAccuracy))\n"
        out += "- flapping (per-epoch label X→Y→X): \(flapping.count)/\(results.count) = \(Self.percent(flappingRate))\n"
        out += "- fit curves called overfitting at some epoch: \(falseOverfit.count)/\(fitRuns.count) = \(Self.percent(falseOverfitRate))\n"
        let ambAgree = ambiguous.filter(\.agrees).count
        out += "- ambiguous curves (not scored): \(ambAgree)/\(ambiguous.count) agree with their nominal label\n\n"
        out += confusion + "\n\n"
        let misses = clear.filter { !$0.agrees }
        if !misses.isEmpty {
            out += "Disagreements: " + misses.map { "`\($0.curve.id)` \($0.curve.label)→\($0.final)" }.joined(separator: ", ") + "\n\n"
        }
        if !flapping.isEmpty { out += "Flapping: " + flapping.map { "`\($0.curve.id)` \($0.sequence)" }.joined(separator: ", ") + "\n\n" }
        if !falseOverfit.isEmpty { out += "Fit curves called overfitting at some epoch: " + falseOverfit.map { "`\($0.curve.id)`" }.joined(separator: ", ") + "\n\n" }
        out += "Onset of overfitting:\n\n" + onsetTable + "\n"
        return out
    }
}
