import ArgumentParser
import FinetopCore
import FinetopDemo
import FinetopTUI
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `finetop demo` (and `finetop` alone): starts the demo's trainer as a child job on a run
/// directory and shows it in the dashboard (in a terminal) or follows it in plain text (in a pipe).
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo", abstract: "Run the built-in fine-tuning demo: a real small network you can steer.")

    @OptionGroup var demo: DemoOptions
    @Option(help: "The run directory (default: a new one under $TMPDIR).") var dir: String?
    @OptionGroup var color: ColorOptions

    static let hint = "real job: finetop run -- python train.py"

    func run() throws {
        let directory = try dir ?? Self.temporaryRunDirectory()
        if FileSystem.exists(directory + "/" + RunFiles.events) {
            throw UserError(file: directory, "already holds a run; choose another --dir or leave it out")
        }
        let interactive = isatty(0) == 1 && isatty(1) == 1
        let job = try JobLauncher.start(trainerArguments(directory: directory), runDirectory: directory,
                                        environment: ProcessInfo.processInfo.environment)
        guard interactive else {
            // In a pipe or CI: the run as plain text, one line per epoch.
            printIntroduction(directory: directory)
            let follower = PlainRunFollower(directory: directory, job: job)
            guard follower.follow() else { throw ExitCode(1) }
            return
        }
        let source = EventsFileSource(eventsPath: directory + "/" + RunFiles.events, runDirectory: directory)
        let options = DashboardOptions.detect(environment: WatchCommand.environment, noColorFlag: color.noColor)
        let exit: DashboardExit
        do {
            exit = try Dashboard.run(source: source, options: options, job: job, hint: Self.hint)
        } catch {
            stop(job)
            throw UserError("\(error.message); `finetop demo | cat` prints the demo as plain text")
        }
        // The demo's trainer lives only as long as the demo: it ends with an `end` line (stopped).
        stop(job)
        print("finetop demo: the run is kept in \(directory) (`finetop watch \(directory)` opens it again)")
        switch exit {
        case .quit: return
        case .signal(let sig): throw ExitCode(128 + sig)
        }
    }

    /// SIGTERM, then a few seconds for the `end` line, then SIGKILL.
    private func stop(_ job: Job) {
        job.terminate()
        if job.wait(seconds: 5) == nil {
            kill(-job.pid, SIGKILL)
            _ = job.wait()
        }
    }

    private func trainerArguments(directory: String) -> [String] {
        let executable = DemoAssets.currentExecutablePaths().last ?? CommandLine.arguments[0]
        return [executable, "demo-trainer", "--dir", directory] + demo.arguments
    }

    private func printIntroduction(directory: String) {
        print("""
            finetop demo: fine-tuning a small network on handwritten digits (scenario \(demo.scenario.rawValue), seed \(demo.seed))
            run directory: \(directory)
            This build prints the run as plain text; `finetop watch \(directory)` shows it in the dashboard.
            Steer it by writing \(directory)/\(RunFiles.control), e.g.
              {"version": 1, "revision": 1, "trainable": {"dense_2": true, "dense_3": true}, "stop": false}
            Watching a real job instead: `finetop run -- python train.py`, `finetop watch DIR`.

            """)
        fflush(nil)
    }

    static func temporaryRunDirectory() throws(UserError) -> String {
        let base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array((base + "/finetop-demo-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer in
            buffer.baseAddress.flatMap { mkdtemp($0) }.map { String(cString: $0) }
        }
        guard let made else {
            throw UserError("cannot create a run directory under \(base): \(String(cString: strerror(errno)))")
        }
        return made
    }
}

/// Follows a run directory in plain text, one line per epoch, model change, control answer and the
/// end, until the job ends. Returns whether the run ended with an `end` line.
struct PlainRunFollower {
    let directory: String
    let job: Job

    func follow() -> Bool {
        let reader = EventsReader(path: directory + "/" + RunFiles.events)
        var shown = Shown()
        while true {
            _ = try? reader.poll()
            let run = reader.run
            show(run, &shown)
            if run.end != nil {
                _ = job.wait()
                return true
            }
            if let exit = job.finished() {
                _ = try? reader.poll()
                show(reader.run, &shown)
                if reader.run.end != nil { return true }
                print("the trainer \(exit.description) before the run ended; see \(job.outputLog)")
                return false
            }
            usleep(100_000)
        }
    }

    /// How much of the run has been printed.
    struct Shown {
        var modelRevision = -1
        var epochs = 0
        var acks = 0
        var headerPrinted = false
    }

    private func show(_ run: Run, _ shown: inout Shown) {
        if let model = run.model, model.revision != shown.modelRevision {
            shown.modelRevision = model.revision
            let t = model.totals
            let frozen = model.layers.filter { $0.hasWeights && !$0.trainable }.map(\.name)
            print("model revision \(model.revision): \(KerasFormat.count(t.trainable)) of \(KerasFormat.count(t.total)) params trainable"
                  + (frozen.isEmpty ? "" : "; frozen: " + frozen.joined(separator: ", ")))
        }
        for ack in run.acks.dropFirst(shown.acks) {
            let changed = ack.changed.isEmpty ? "" : " " + ack.changed.joined(separator: ", ")
            print("control revision \(ack.revision) \(ack.status.rawValue)\(changed)\(ack.message.map { ": " + $0 } ?? "")")
        }
        shown.acks = run.acks.count
        for record in run.epochs.dropFirst(shown.epochs) {
            if !shown.headerPrinted {
                print("epoch      loss  val_loss  accuracy  val_accuracy")
                shown.headerPrinted = true
            }
            print(Self.row(record, of: run.info?.hparams.epochs))
        }
        shown.epochs = run.epochs.count
        if let end = run.end {
            print("end: \(end.reason)\(end.message.map { " (\($0))" } ?? "")")
        }
        fflush(nil)
    }

    static func row(_ e: EpochRecord, of total: Int?) -> String {
        func number(_ v: Double?) -> String {
            v.map { String(format: abs($0) < 1e5 || !$0.isFinite ? "%9.4f" : "%9.2e", $0) } ?? "        -"
        }
        func percent(_ v: Double?) -> String { v.map { String(format: "%8.1f%%", $0 * 100) } ?? "        -" }
        let epoch = String(e.epoch + 1) + (total.map { "/\($0)" } ?? "")
        return epoch.padding(toLength: max(7, epoch.count), withPad: " ", startingAt: 0) + " "
            + number(e.loss) + " " + number(e.valLoss) + " " + percent(e.values["accuracy"]) + "     "
            + percent(e.values["val_accuracy"])
    }
}
