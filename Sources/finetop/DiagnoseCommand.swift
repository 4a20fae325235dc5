import ArgumentParser
import FinetopCore
import FinetopDiagnosis

struct DiagnoseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diagnose",
        abstract: "Print the diagnosis of a run without the dashboard.",
        discussion: """
            Labels the run too_early, underfitting, overfitting, fit or diverging, with the evidence
            and ranked suggestions. Exit status: 0, 1 when the label is in --fail-on, 2 on bad input.
            """)

    @Argument(help: "A run directory, an events.jsonl, or any log finetop reads.") var path: String
    @OptionGroup var which: RunChoiceOptions
    @Flag(help: "Print one JSON object instead of text.") var json = false
    @Option(name: .customLong("fail-on"),
            help: "Labels that make the exit status 1, comma-separated or repeated, e.g. overfitting,diverging.")
    var failOn: [FitLabels] = []
    @Option(name: .customLong("target-accuracy"),
            help: "The accuracy you expect (0-1, or percent): below it on a plateau, the run is underfitting (avoidable bias). Overrides `target` in the run's hparams.")
    var targetAccuracy: Double?
    @Option(name: .customLong("target-loss"),
            help: "The loss you expect: above it on a plateau, the run is underfitting. Overrides `target` in the run's hparams.")
    var targetLoss: Double?

    func run() throws {
        let failLabels = Set(failOn.flatMap(\.labels))
        let target = try Self.parseTarget(accuracy: targetAccuracy, loss: targetLoss)
        let run: Run
        do { run = try RunLoader.load(path: path, options: which.readOptions) } catch { throw UserError(error) }
        let report = Diagnoser.diagnose(run, target: target)
        noteRunsInFile(run, path: path)
        print(json ? report.json : report.text.split(separator: "\n", omittingEmptySubsequences: false)
            .map { DisplayText.neutralize(String($0)) }.joined(separator: "\n"))
        if failLabels.contains(report.current.label) { throw ExitCode(1) }
    }

    /// The target from the flags; an accuracy outside 0-100 or a non-finite loss is a usage error (exit 2).
    static func parseTarget(accuracy: Double?, loss: Double?) throws -> Target {
        if let a = accuracy, !(a.isFinite && a > 0 && a <= 100) {
            throw UserError("--target-accuracy: \(a) is not an accuracy (give 0-1, or a percent up to 100)")
        }
        if let l = loss, !l.isFinite { throw UserError("--target-loss: \(l) is not a finite number") }
        return Target(accuracy: accuracy, loss: loss)
    }
}

/// A comma-separated list of fit labels (`overfitting,diverging`); an unknown name is a usage
/// error (exit 2) that lists the known ones, not a silent pass.
struct FitLabels: ExpressibleByArgument {
    var labels: [FitLabel]

    init?(argument: String) {
        var labels: [FitLabel] = []
        for name in argument.split(separator: ",").map({ $0.trimmingCharacters(in: " ") }) where !name.isEmpty {
            guard let label = FitLabel(rawValue: name) else { return nil }
            labels.append(label)
        }
        self.labels = labels
    }

    static var allValueStrings: [String] { FitLabel.allCases.map(\.rawValue) }
}

extension Substring {
    func trimmingCharacters(in set: String) -> String {
        String(drop { set.contains($0) }.reversed().drop { set.contains($0) }.reversed())
    }
}
