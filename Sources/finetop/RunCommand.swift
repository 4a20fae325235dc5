import ArgumentParser
import FinetopCore
import FinetopTUI
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `finetop run [--dir DIR] -- CMD ARGS…`: starts a training job on a run directory and shows it in
/// the dashboard, which stays open after the job ends; finetop then exits with the job's status.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Start a training job with a run directory and watch it live.",
        discussion: """
            The job gets FINETOP_RUN_DIR=DIR (the finetop helpers write there) and its output goes to \
            DIR/output.log (`o` in the dashboard). An existing DIR is reused: the job appends to it.
            Ctrl-C sends SIGINT to the job and the dashboard stays open showing how it ended; `q` quits \
            the dashboard, leaving a running job running (`finetop watch DIR` re-attaches). After `q`, \
            finetop exits with the job's exit status.
            """)

    @Option(help: "The run directory (default: runs/<YYYYmmdd-HHMMSS>-<script name>).") var dir: String?
    @Flag(help: "No colors (also when NO_COLOR is set); selection stays visible.") var noColor = false
    @Argument(parsing: .postTerminator, help: "The training command, after `--`.") var command: [String] = []

    func validate() throws {
        if command.isEmpty { throw ValidationError("no command to run; usage: finetop run [--dir DIR] -- python train.py") }
    }

    func run() throws {
        guard isatty(0) == 1, isatty(1) == 1 else {
            fail("finetop run needs a terminal; without one, run `FINETOP_RUN_DIR=DIR \(command.joined(separator: " "))` "
                 + "and then `finetop diagnose DIR`")
        }
        let directory = dir ?? Self.defaultDirectory(for: command, now: Date())
        let job: Job
        do {
            job = try JobLauncher.start(command, runDirectory: directory, environment: ProcessInfo.processInfo.environment)
        } catch {
            fail(error.message)
        }
        let source = EventsFileSource(eventsPath: directory + "/" + RunFiles.events, runDirectory: directory)
        let options = DashboardOptions.detect(environment: WatchCommand.environment, noColorFlag: noColor)
        let exit: DashboardExit
        do {
            exit = try Dashboard.run(source: source, options: options, job: job, ctrlCInterruptsJob: true)
        } catch {
            // The user never saw the job: do not leave it running behind their back.
            job.interrupt()
            fail("\(error.message); the job (pid \(job.pid)) was interrupted. Without a dashboard: "
                 + "`FINETOP_RUN_DIR=\(directory) \(command.joined(separator: " "))`")
        }
        guard let status = job.shellStatus else {
            // Killing a user's training because they closed a dashboard would be hostile.
            print("finetop: the job keeps running (pid \(job.pid)); `finetop watch \(directory)` shows it again")
            switch exit {
            case .quit: return
            case .signal(let sig): throw ExitCode(128 + sig)
            }
        }
        let how = job.finished()?.description ?? "ended"
        print("finetop: the job \(how); its run is in \(directory)")
        // Children of the job outliving it would train on unseen; nobody else will stop them.
        if let what = job.endLeftovers(killDelay: JobView.killDelay) { print("finetop: " + what) }
        switch exit {
        case .quit: throw ExitCode(status)
        // Ctrl-C after the job ended is the user quitting; SIGTERM/SIGHUP report themselves.
        case .signal(let sig): throw ExitCode(sig == SIGINT ? status : 128 + sig)
        }
    }

    /// `runs/<YYYYmmdd-HHMMSS>-<name>`, the name from the script (`python train.py` → `train`)
    /// or else the program.
    static func defaultDirectory(for command: [String], now: Date) -> String {
        var t = time_t(now.timeIntervalSince1970)
        var parts = tm()
        localtime_r(&t, &parts)
        let stamp = String(format: "%04d%02d%02d-%02d%02d%02d", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
                           Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
        return "runs/\(stamp)-\(jobName(command))"
    }

    static func jobName(_ command: [String]) -> String {
        let script = command.dropFirst().first { arg in
            !arg.hasPrefix("-") && [".py", ".sh", ".ipynb"].contains { arg.hasSuffix($0) }
        }
        var name = (script ?? command.first ?? "job").split(separator: "/").last.map(String.init) ?? "job"
        if let dot = name.lastIndex(of: "."), dot != name.startIndex { name = String(name[..<dot]) }
        let safe = String(name.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" })
        return safe.isEmpty ? "job" : String(safe.prefix(40))
    }
}
