import Foundation
import Testing
import FinetopCore

/// The real binary in tmux around control.json and the job's processes: two dashboards on one
/// run, writes that fail, signals that must not leave the terminal raw, and `finetop run`'s
/// escalation to the job's whole process group.
@Suite(.serialized, .enabled(if: Binary.tmuxAvailable, "needs tmux"))
struct ControlTmuxTests {
    @Test func twoDashboardsTogglingAtTheSameMomentLoseNothing() throws {
        let (dir, _) = try makeRunDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let a = try TmuxSession(width: 120, height: 40)
        let b = try TmuxSession(width: 120, height: 40)
        try a.run("\(Binary.path) watch \(dir)")
        try b.run("\(Binary.path) watch \(dir)")
        try a.waitFor(text: "Layers 6")
        try b.waitFor(text: "Layers 6")
        // A on `conv` (frozen), B on `dense` (trainable).
        try a.keys("j")
        try b.keys("j", "j", "j", "j")
        var revisions: [Int] = []
        for round in 1...10 {
            // Both presses go out back to back, before either dashboard has seen the other's write.
            try a.keys("Space")
            try b.keys("Space")
            let conv = round % 2 == 1, dense = round % 2 == 0
            try waitUntil("round \(round): both changes in control.json") {
                let f = try? ControlFile.read(from: dir)
                return f?.trainable["conv"] == conv && f?.trainable["dense"] == dense && (f?.revision ?? 0) >= 2 * round
            }
            let f = try #require(try ControlFile.read(from: dir))
            #expect(f.revision == 2 * round, "two writes per round, each with its own revision")
            revisions.append(f.revision)
        }
        #expect(revisions == revisions.sorted() && Set(revisions).count == revisions.count)
        // Each dashboard shows the other's change: conv is pending in B, dense in A (round 10:
        // conv back to frozen, dense back to trainable: nothing pending), so check after one more.
        try a.keys("Space")
        try waitUntil("A's 11th change") { (try? ControlFile.read(from: dir))?.trainable["conv"] == true }
        try b.waitFor("A's change shown in B") { $0.contains("1 pending") && $0.contains("Y*") }
        try a.keys("q")
        try b.keys("q")
        try a.waitFor(text: "FINETOP-EXITED 0")
        try b.waitFor(text: "FINETOP-EXITED 0")
    }

    @Test func aToggleThatCannotBeWrittenShowsWhyAndTheDashboardSurvives() throws {
        let (dir, _) = try makeRunDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let t = try TmuxSession(width: 120, height: 40)
        // No file may grow: writing control.json's temporary file raises SIGXFSZ, which used to
        // kill the dashboard with the terminal raw.
        try t.type("(ulimit -f 0; \(Binary.path) watch \(dir)); echo FINETOP-EXITED $?")
        try t.waitFor(text: "Layers 6")
        try t.keys("j", "Space")
        // The whole reason opens in a box (too long for the bottom line) until the next key.
        let failed = try t.waitFor(text: "EFBIG")
        #expect(failed.contains("Y!"))
        try t.keys("Escape")
        // Under it, the totals keep saying the toggle was not written.
        let after = try t.waitFor(text: "Not written (1)")
        #expect(after.contains("Y!"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/control.json"))
        try t.keys("q")
        try t.waitFor(text: "FINETOP-EXITED 0")
    }

    @Test func aFifoAtControlJsonNeverBlocksTheDashboardAtStartOrOnReRead() throws {
        let (dir, _) = try makeRunDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(mkfifo(dir + "/control.json", 0o644) == 0)
        let t = try TmuxSession(width: 120, height: 40)
        try t.run("\(Binary.path) watch \(dir)")
        let started = try t.waitFor(text: "Layers 6")
        #expect(started.contains("FIFO"), "the start says why control.json is ignored")
        // Replaced by a regular file, then by a FIFO again while the dashboard runs: re-read, never blocked on.
        try FileManager.default.removeItem(atPath: dir + "/control.json")
        try ControlFile(revision: 3, trainable: ["conv": true]).write(to: dir)
        try t.waitFor(text: "1 pending")
        // (Renamed over it: a control.json that is gone for a moment would mean "no flags".)
        #expect(mkfifo(dir + "/fifo", 0o644) == 0)
        #expect(rename(dir + "/fifo", dir + "/control.json") == 0)
        try t.waitFor(text: "FIFO")
        // A toggle replaces the FIFO with a regular control.json (rename, never opened for writing).
        try t.keys("j", "j", "j", "j", "Space")
        try waitUntil("control.json replaced") { (try? ControlFile.read(from: dir))?.trainable["dense"] == false }
        #expect(try ControlFile.read(from: dir)?.trainable["conv"] == true, "the flag read before the FIFO is kept")
        #expect(try ControlFile.read(from: dir)?.revision ?? 0 > 3)
        try t.keys("q")
        try t.waitFor(text: "FINETOP-EXITED 0")
    }

    /// The terminal modes after the dashboard is gone, as `stty` reports them.
    func ttyModes(_ t: TmuxSession) throws -> String {
        try t.type("clear; stty -a | tr ' ' '\\n' | grep -x -e icanon -e -icanon -e echo -e -echo | tr '\\n' ' '; echo MODES-END")
        let screen = try t.waitFor(text: "MODES-END")
        return screen.split(separator: "\n").first { $0.contains("MODES-END") && !$0.contains("grep") }.map(String.init) ?? screen
    }

    @Test(arguments: ["QUIT", "XFSZ", "USR1", "USR2", "ALRM", "XCPU", "PIPE"])
    func signalsNeverLeaveTheTerminalRaw(signal: String) throws {
        let (dir, _) = try makeRunDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let t = try TmuxSession(width: 100, height: 30)
        try t.type("cd \(FileManager.default.temporaryDirectory.path); ulimit -c 0")
        try t.run("\(Binary.path) watch \(dir)")
        try t.waitFor(text: "Layers 6")
        let pid = try #require(processes(mentioning: "watch \(dir)").first)
        kill(pid, Self.number(signal))
        // Ignored signals leave the dashboard running: quit it with q.
        if ["XFSZ", "PIPE"].contains(signal) {
            usleep(300_000)
            #expect(try t.screen().contains("Layers 6"), "SIG\(signal) must be ignored")
            try t.keys("q")
        }
        try t.waitFor("the dashboard is gone", timeout: 15) { $0.contains("FINETOP-EXITED") && !$0.contains("Layers 6") }
        let modes = try ttyModes(t)
        #expect(modes.contains("icanon") && !modes.contains("-icanon"), "SIG\(signal): \(modes)")
        #expect(modes.contains("echo") && !modes.contains("-echo"), "SIG\(signal): \(modes)")
    }

    static func number(_ name: String) -> Int32 {
        switch name {
        case "QUIT": return SIGQUIT
        case "XFSZ": return SIGXFSZ
        case "USR1": return SIGUSR1
        case "USR2": return SIGUSR2
        case "ALRM": return SIGALRM
        case "XCPU": return SIGXCPU
        default: return SIGPIPE
        }
    }
}

/// A real PyTorch job (the finetop.torch helper) steered by two dashboards at once: every change
/// of every round reaches the job, which acknowledges each merged revision. Layer `c` stays
/// trainable so that the job may read control.json between the two dashboards' writes of a round
/// (a and b both frozen for a moment) without rightly refusing a model with nothing to train.
let twoLayerTorchJob = #"""
import os, time, torch
from torch import nn
from finetop.torch import Tracker
d = os.environ["FINETOP_RUN_DIR"]
torch.manual_seed(0)
model = nn.Sequential()
model.add_module("a", nn.Linear(4, 4))
model.add_module("b", nn.Linear(4, 2))
model.add_module("c", nn.Linear(2, 2))
for p in model.a.parameters():
    p.requires_grad_(False)
opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01)
tracker = Tracker(model, opt, hparams={"epochs": 100000}, control_interval=0.02)
x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))
epoch = 0
while not os.path.exists(os.path.join(d, "go")):
    for _ in range(5):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        tracker.batch(loss=loss.item())
        time.sleep(0.01)
    tracker.epoch(loss=loss.item())
    epoch += 1
tracker.end()
"""#

@Suite(.serialized, .enabled(if: Binary.tmuxAvailable, "needs tmux"),
       .enabled(if: TorchProbe.available, "PyTorch is not installed in FINETOP_PYTHON: the real-PyTorch job test is skipped"))
struct TwoDashboardsOneJobTmuxTests {
    @Test func everyChangeOfTwoDashboardsReachesTheJob() throws {
        let dir = temporaryRunPath("finetop-two-dash")
        let script = try JobPython.script(twoLayerTorchJob, name: "twodash")
        defer {
            for pid in jobProcesses(script) { kill(pid, SIGKILL) }
            try? FileManager.default.removeItem(atPath: dir)
            try? FileManager.default.removeItem(atPath: script)
        }
        let python = try #require(JobPython.path)
        let job = try TmuxSession(width: 100, height: 10)
        try job.run("FINETOP_RUN_DIR=\(dir) PYTHONPATH=\(CLI.packageRoot)/assets/python \(python) \(script)")
        try waitUntil("the job's model line", timeout: 60) { FileManager.default.fileExists(atPath: dir + "/events.jsonl") }
        let a = try TmuxSession(width: 120, height: 40)
        let b = try TmuxSession(width: 120, height: 40)
        try a.run("\(Binary.path) watch \(dir)")
        try b.run("\(Binary.path) watch \(dir)")
        try a.waitFor(text: "Layers 3", timeout: 30)
        try b.waitFor(text: "Layers 3", timeout: 30)
        try b.keys("j")   // A on `a` (frozen), B on `b` (trainable)
        for round in 1...10 {
            try a.keys("Space")
            try b.keys("Space")
            let wantA = round % 2 == 1, wantB = round % 2 == 0
            try waitUntil("round \(round): both changes in control.json") {
                let f = try? ControlFile.read(from: dir)
                return f?.trainable["a"] == wantA && f?.trainable["b"] == wantB
            }
            let revision = try #require(try ControlFile.read(from: dir)).revision
            #expect(revision == 2 * round)
            // The job answers that revision (or a later one) and its model line has both flags.
            try waitUntil("round \(round): the job applied revision \(revision)", timeout: 20) {
                let reader = EventsReader(path: dir + "/events.jsonl", format: .runDirectory)
                guard (try? reader.poll()) != nil else { return false }
                let run = reader.run
                let layers = run.model?.layers ?? []
                return (run.acks.map(\.revision).max() ?? -1) >= revision
                    && layers.first { $0.name == "a" }?.trainable == wantA
                    && layers.first { $0.name == "b" }?.trainable == wantB
            }
        }
        let reader = EventsReader(path: dir + "/events.jsonl", format: .runDirectory)
        try reader.poll()
        let acked = reader.run.acks.map(\.revision)
        #expect(acked == acked.sorted() && Set(acked).count == acked.count, "revisions strictly increase: \(acked)")
        #expect(!reader.run.acks.contains { $0.status == .rejected },
                "rejected: \(reader.run.acks.filter { $0.status == .rejected }.map { "\($0.revision): \($0.message ?? "")" })")
        _ = FileManager.default.createFile(atPath: dir + "/go", contents: nil)
        try a.keys("q")
        try b.keys("q")
        try a.waitFor(text: "FINETOP-EXITED 0")
        try b.waitFor(text: "FINETOP-EXITED 0")
    }
}

/// `finetop run` and a job that will not end: the whole process group is signalled, with the
/// delays said on screen.
@Suite(.serialized, .enabled(if: Binary.tmuxAvailable && JobPython.available, "needs tmux and python3"))
struct JobProcessGroupTmuxTests {
    let helpers = CLI.packageRoot + "/assets/python"

    @Test func childrenLeftByAnExitedLeaderAreTerminated() throws {
        let dir = temporaryRunPath("finetop-orphans")
        let marker = "\(UInt32.random(in: 100_000...999_999))"
        defer {
            for pid in jobProcesses("sleep \(marker)") { kill(pid, SIGKILL) }
            try? FileManager.default.removeItem(atPath: dir)
        }
        let t = try TmuxSession(width: 140, height: 40)
        // The leader starts a child in its process group and exits at once.
        try t.run("\(Binary.path) run --dir \(dir) -- sh -c 'sleep \(marker) & exit 0'")
        let screen = try t.waitFor(text: "processes it started still run", timeout: 20)
        #expect(screen.contains("sent SIGTERM"))
        try waitUntil("the child is gone", timeout: 10) { jobProcesses("sleep \(marker)").isEmpty }
        try t.keys("q")
        try t.waitFor(text: "FINETOP-EXITED 0")
    }

    @Test func aJobIgnoringSigintAndSigtermIsKilledAfterTheStatedDelays() throws {
        let dir = temporaryRunPath("finetop-stubborn")
        let script = try JobPython.script("""
            import signal, subprocess, time
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            child = subprocess.Popen(["sh", "-c", "trap '' INT TERM; while :; do sleep 1; done"])
            print("stubborn job running", flush=True)
            while True:
                time.sleep(0.1)
            """, name: "stubborn")
        defer {
            for pid in jobProcesses(script) { kill(pid, SIGKILL) }
            try? FileManager.default.removeItem(atPath: dir)
            try? FileManager.default.removeItem(atPath: script)
        }
        let python = try #require(JobPython.path)
        let t = try TmuxSession(width: 200, height: 40)
        try t.run("\(Binary.path) run --dir \(dir) -- \(python) \(script)")
        try t.waitFor("the running job", timeout: 30) { $0.contains("pid ") }
        try waitUntil("the job's output", timeout: 20) {
            ((try? String(contentsOfFile: dir + "/output.log", encoding: .utf8)) ?? "").contains("stubborn job running")
        }
        try t.keys("C-c")
        let int = try t.waitFor(text: "sent SIGINT")
        #expect(int.contains("SIGTERM to its process group if it still runs in 10 s"))
        let term = try t.waitFor(text: "sent SIGTERM to its process group", timeout: 20)
        #expect(term.contains("SIGKILL in 5 s"))
        try t.waitFor(text: "killed by SIGKILL", timeout: 20)
        try waitUntil("nothing of the job remains", timeout: 10) { jobProcesses(script).isEmpty }
        try t.keys("q")
        try t.waitFor(text: "FINETOP-EXITED 137")
    }
}

/// Processes mentioning `text`, except `finetop` itself (its own command line names the job).
func jobProcesses(_ text: String) -> [Int32] {
    processes(mentioning: text).filter { pid in
        let cmd = (FileManager.default.contents(atPath: "/proc/\(pid)/cmdline")).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return !cmd.contains("finetop run") && !cmd.contains(Binary.path)
    }
}

/// Whether the project's Python can import torch (probed once).
enum TorchProbe {
    static let available: Bool = {
        guard let python = JobPython.path else { return false }
        return Spawn.run([python, "-c", "import torch"]).status == 0
    }()
}
