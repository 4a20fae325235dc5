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
    @Option(name: .customLong("run"), help: "Which run of a log holding several (1 = the first; default: the last).")
    var runNumber: Int?
    @Flag(help: "Print one JSON object instead of text.") var json = false
    @Option(name: .customLong("fail-on"),
            help: "Comma-separated labels that make the exit status 1, e.g. overfitting,diverging.")
    var failOn: String?

    func run() throws {
        let failLabels = Self.parseLabels(failOn)
        let run: Run
        do { run = try RunLoader.load(path: path, options: ReadOptions(run: runNumber)) } catch { fail(error.description) }
        let report = Diagnoser.diagnose(run)
        if run.runsInFile > 1 {
            var err = StandardError()
            print("finetop: \(path) holds \(run.runsInFile) runs; this is run \(run.runNumber) (--run K for another)", to: &err)
        }
        print(json ? report.json : report.text.split(separator: "\n", omittingEmptySubsequences: false)
            .map { DisplayText.neutralize(String($0)) }.joined(separator: "\n"))
        if failLabels.contains(report.current.label) { throw ExitCode(1) }
    }

    /// The labels named in `--fail-on`; an unknown name is a usage error (exit 2), not a silent pass.
    static func parseLabels(_ list: String?) -> Set<FitLabel> {
        guard let list else { return [] }
        var labels = Set<FitLabel>()
        for name in list.split(separator: ",").map({ $0.trimmingCharacters(in: " ") }) where !name.isEmpty {
            guard let label = FitLabel(rawValue: name) else {
                let known = FitLabel.allCases.map(\.rawValue).joined(separator: ", ")
                fail("--fail-on: unknown label \"\(DisplayText.neutralize(name))\" (known: \(known))")
            }
            labels.insert(label)
        }
        return labels
    }
}

extension Substring {
    func trimmingCharacters(in set: String) -> String {
        String(drop { set.contains($0) }.reversed().drop { set.contains($0) }.reversed())
    }
}
