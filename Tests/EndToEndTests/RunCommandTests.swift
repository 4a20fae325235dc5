import Foundation
import Testing
import FinetopCore

/// A job that writes the run format with the finetop RunLog (no framework), prints a line with
/// escape sequences, waits for a `go` file in its run directory (or Ctrl-C), then fails with a
/// traceback and exit status 3.
let exit3Job = #"""
import os, sys, time, traceback
from finetop.runlog import RunLog
d = os.environ["FINETOP_RUN_DIR"]
log = RunLog(d)
log.run("custom", "0", run_id="exit3", hparams={"epochs": 4})
layer = lambda n, p: {"name": n, "class": "Dense", "shape": "(None, 4)", "params": p,
                      "trainable_params": p, "trainable": True, "depth": 0}
log.model(0, [layer("dense", 20), layer("head", 10)])
for e in range(2):
    log.epoch(e, loss=1.0 / (e + 1), val_loss=1.1 / (e + 1), metrics={"accuracy": 0.5 + 0.1 * e})
print("hello from the job \x1b[2J\x1b[31mred\x07", flush=True)
try:
    while not os.path.exists(os.path.join(d, "go")):
        time.sleep(0.02)
except KeyboardInterrupt:
    log.end("stopped", "interrupted (KeyboardInterrupt)")
    raise
try:
    raise ValueError("boom: the job failed on purpose")
except ValueError:
    traceback.print_exc()
    log.end("error", "ValueError: boom")
    sys.exit(3)
"""#

/// A Python for jobs that need no framework: the project's venv, else python3 on PATH.
enum JobPython {
    static var path: String? {
        let venv = PythonHelperTests.python
        if FileManager.default.isExecutableFile(atPath: venv) { return venv }
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let p = "\(dir)/python3"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    static var available: Bool { path != nil }

    /// Writes `source` to a temporary script; returns its path.
    static func script(_ source: String, name: String) throws -> String {
        let path = temporaryRunPath(name) + ".py"
        try source.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}

@Suite(.serialized, .enabled(if: Binary.tmuxAvailable && JobPython.available, "needs tmux and python3"))
struct RunCommandTmuxTests {
    let helpers = CLI.packageRoot + "/assets/python"

    /// A started `finetop run` of `exit3Job` in tmux, its run directory and script removed (and
    /// the job killed if still there) when the test ends.
    final class StartedJob {
        let dir = temporaryRunPath("finetop-run")
        let script: String
        let t: TmuxSession

        init(width: Int, height: Int, helpers: String) throws {
            script = try JobPython.script(exit3Job, name: "job")
            t = try TmuxSession(width: width, height: height)
            let python = try #require(JobPython.path)
            try t.run("PYTHONPATH=\(helpers) \(Binary.path) run --dir \(dir) -- \(python) \(script)")
        }

        deinit {
            for pid in processes(mentioning: script) { kill(pid, SIGKILL) }
            try? FileManager.default.removeItem(atPath: dir)
            try? FileManager.default.removeItem(atPath: script)
        }
    }

    @Test func failingJobShowsItsStatusAndOutputAndFinetopExitsWithIt() throws {
        let job = try StartedJob(width: 120, height: 40, helpers: helpers)
        defer { withExtendedLifetime(job) {} }  // its deinit cleans up: not before the test ends
        let (t, dir) = (job.t, job.dir)
        let running = try t.waitFor("the running job", timeout: 30) { $0.contains("Layers 2") && $0.contains("epoch 2/4") }
        #expect(running.contains("pid "))
        #expect(running.contains("o output"))

        // `o` shows what the job printed as a terminal would (escape sequences dropped), other
        // control characters made harmless.
        try t.keys("o")
        let output = try t.waitFor(text: "hello from the job")
        #expect(output.contains("hello from the job red?"))
        #expect(!output.contains("[2J") && !output.contains("[31m"))
        #expect(output.contains("Layers") == false, "the overlay covers the layer table")
        try t.keys("Escape")
        try t.waitFor(text: "Layers 2")

        // The job fails: the header says how, the dashboard stays open.
        _ = FileManager.default.createFile(atPath: dir + "/go", contents: nil)
        let ended = try t.waitFor(text: "exited with status 3", timeout: 20)
        #expect(ended.contains("Layers 2"))
        try t.keys("o")
        let traceback = try t.waitFor(text: "ValueError: boom: the job failed on purpose")
        #expect(traceback.contains("Traceback (most recent call last):"))
        try t.keys("Escape")

        // q quits with the job's status.
        try t.keys("q")
        let after = try t.waitFor(text: "FINETOP-EXITED 3")
        #expect(after.contains("the job exited with status 3"))
        #expect(!after.contains("Layers 2"))
        let log = try String(contentsOfFile: dir + "/output.log", encoding: .utf8)
        #expect(log.contains("hello from the job"))
    }

    @Test func ctrlCInterruptsTheJobAndTheDashboardStays() throws {
        let job = try StartedJob(width: 100, height: 30, helpers: helpers)
        defer { withExtendedLifetime(job) {} }  // its deinit cleans up: not before the test ends
        let (t, dir) = (job.t, job.dir)
        try t.waitFor("the running job", timeout: 30) { $0.contains("Layers 2") && $0.contains("pid ") }
        try t.keys("C-c")
        // Python dies of the SIGINT it re-raises after KeyboardInterrupt; the run says stopped.
        // The job's state (from waitpid) and its `end` line (from events.jsonl) arrive separately.
        let ended = try t.waitFor("the job killed, its end line read", timeout: 20) {
            $0.contains("killed by SIGINT") && $0.contains("finished (stopped)")
        }
        #expect(ended.contains("Layers 2"), "the dashboard is still open")
        try t.keys("q")
        try t.waitFor(text: "FINETOP-EXITED 130")
    }

    @Test func quittingLeavesARunningJobRunning() throws {
        let job = try StartedJob(width: 100, height: 30, helpers: helpers)
        defer { withExtendedLifetime(job) {} }  // its deinit cleans up: not before the test ends
        let (t, dir) = (job.t, job.dir)
        try t.waitFor("the running job", timeout: 30) { $0.contains("Layers 2") && $0.contains("pid ") }
        try t.keys("q")
        let after = try t.waitFor(text: "FINETOP-EXITED 0")
        #expect(after.contains("the job keeps running"))
        // (The pane wraps long lines.)
        #expect(after.replacingOccurrences(of: "\n", with: "").contains("finetop watch \(dir)"))
        #expect(!processes(mentioning: job.script).isEmpty, "the job was left running")
        // Finishing it later is still recorded in its run.
        _ = FileManager.default.createFile(atPath: dir + "/go", contents: nil)
        try waitUntil("the job to end", timeout: 20) { processes(mentioning: job.script).isEmpty }
        #expect(try RunLoader.load(path: dir).end?.reason == "error")
    }
}

@Suite struct RunCommandTests {
    @Test func notATerminalSaysHowToRunWithoutOne() throws {
        let r = try CLI.run(["run", "--", "python3", "train.py"])
        #expect(r.status == 2)
        #expect(r.stderr.contains("needs a terminal"))
        #expect(r.stderr.contains("FINETOP_RUN_DIR=DIR python3 train.py"))
        #expect(r.stderr.split(separator: "\n").count == 1)
    }

    @Test func missingCommandIsOneClearLine() throws {
        let dir = temporaryRunPath("finetop-run-missing")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A pseudo-terminal (script) so the terminal check passes and the start is what fails.
        let (status, text) = Spawn.run(["script", "-qec", "\(Binary.path) run --dir \(dir) -- no-such-program-xyz --flag", "/dev/null"])
        #expect(status == 2)
        #expect(text.contains("cannot start no-such-program-xyz"))
        #expect(text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n").count == 1)
    }

    @Test func noCommandIsAUsageError() throws {
        let r = try CLI.run(["run"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("finetop run [--dir DIR] -- python train.py"))
    }
}
