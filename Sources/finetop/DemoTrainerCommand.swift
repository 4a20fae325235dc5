import ArgumentParser
import FinetopCore
import FinetopDemo
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Scenario: ExpressibleByArgument {}

/// The demo's training job: a hidden command `finetop demo` starts as a child process, so the
/// demo goes through the same path as any job (`finetop run`) and the dashboard cannot tell.
struct DemoTrainerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo-trainer", abstract: "Train the demo's network, writing a run directory (used by `finetop demo`).",
        shouldDisplay: false)

    @Option(help: "The run directory to write.") var dir: String
    @OptionGroup var demo: DemoOptions
    @Option(help: "Learning rate (default: the scenario's).") var learningRate: Double?

    func validate() throws {
        if let learningRate, !(learningRate > 0) || !learningRate.isFinite {
            throw ValidationError("--learning-rate must be a positive number")
        }
    }

    func run() throws {
        let digits: Digits
        let trainer: DemoTrainer
        do {
            let path = try DemoAssets.locate(DemoAssets.digits, environment: ProcessInfo.processInfo.environment)
            digits = try Digits.load(from: path)
            trainer = try DemoTrainer(directory: dir, digits: digits, plan: plan, seed: demo.seed,
                                      scenarioName: demo.scenario.rawValue, log: Self.log)
        } catch {
            throw UserError(error.description)
        }
        let parent = getppid()
        StopSignal.install()
        _ = trainer.run(epochsPerSecond: demo.epochsPerSecond) {
            if let signal = StopSignal.received { return "stopped by signal \(signal)" }
            return getppid() != parent ? "the process that started the job has exited" : nil
        }
    }

    /// The scenario's plan with the overrides from the command line.
    private var plan: TrainingPlan {
        var plan = demo.scenario.plan
        if let epochs = demo.epochs { plan.epochs = epochs }
        if let earlyStopping = demo.earlyStopping { plan.earlyStopping = EarlyStoppingInfo(monitor: "val_loss", patience: earlyStopping) }
        if let learningRate { plan.optimizer = plan.optimizer.with(learningRate: learningRate) }
        return plan
    }

    private static func log(_ line: String) {
        print("finetop demo-trainer: " + line)
        fflush(nil)
    }
}

/// Turns SIGTERM, SIGINT and SIGHUP into a flag the trainer reads at its next safe point, so the
/// run still ends with an `end` line (within one epoch or 50 ms) instead of stopping mid-line.
enum StopSignal {
    nonisolated(unsafe) private static var caught: Int32 = 0

    static var received: Int32? { caught == 0 ? nil : caught }

    static func install() {
        for s in [SIGTERM, SIGINT, SIGHUP] {
            _ = signal(s) { number in StopSignal.caught = number }
        }
    }
}

/// Defaults shared by `finetop demo` and the trainer it starts.
enum DemoDefaults {
    static let epochsPerSecond = 5.0
}
