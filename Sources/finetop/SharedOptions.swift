import ArgumentParser
import FinetopCore
import FinetopDemo

/// `--no-color`, the same for every command that opens the dashboard.
struct ColorOptions: ParsableArguments {
    @Flag(help: "No colors (also when NO_COLOR is set); selection stays visible.") var noColor = false
}

/// `--run K`: which run of a log holding several (a CSVLogger file appended to by several jobs).
struct RunChoiceOptions: ParsableArguments {
    @Option(name: .customLong("run"), help: "Which run of a log holding several (1 = the first; default: the last).")
    var runNumber: Int?

    var readOptions: ReadOptions { ReadOptions(run: runNumber) }

    func validate() throws {
        if let runNumber, runNumber < 1 { throw ValidationError("--run must be at least 1") }
    }
}

/// What `diagnose` and `summary` say on stderr when a log holds several runs.
func noteRunsInFile(_ run: Run, path: String) {
    guard run.runsInFile > 1 else { return }
    var err = StandardError()
    print("finetop: \(path) holds \(run.runsInFile) runs; this is run \(run.runNumber) (--run K for another)", to: &err)
}

/// The demo's training options, declared once for `finetop demo` and the trainer it starts.
struct DemoOptions: ParsableArguments {
    @Option(help: "The starting state: underfit, overfit, fit or diverge.") var scenario: Scenario = .underfit
    @Option(help: "The same seed gives the same curves.") var seed: UInt64 = 1
    @Option(help: "Pace of training; 0 trains as fast as it can.") var epochsPerSecond: Double = DemoDefaults.epochsPerSecond
    @Option(help: "Number of epochs (default: the scenario's).") var epochs: Int?
    @Option(help: "Stop once val_loss has not improved for this many epochs (Keras EarlyStopping).") var earlyStopping: Int?

    func validate() throws {
        guard epochsPerSecond >= 0, epochsPerSecond.isFinite else {
            throw ValidationError("--epochs-per-second must be 0 or more")
        }
        if let epochs, epochs < 1 { throw ValidationError("--epochs must be at least 1") }
        if let earlyStopping, earlyStopping < 1 { throw ValidationError("--early-stopping must be at least 1") }
    }

    /// The same options as arguments for the trainer's command line.
    var arguments: [String] {
        var a = ["--scenario", scenario.rawValue, "--seed", String(seed), "--epochs-per-second", String(epochsPerSecond)]
        if let epochs { a += ["--epochs", String(epochs)] }
        if let earlyStopping { a += ["--early-stopping", String(earlyStopping)] }
        return a
    }
}
