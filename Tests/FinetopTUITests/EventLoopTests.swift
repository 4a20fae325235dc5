import Foundation
import Testing
import FinetopCore
import FinetopDiagnosis
@testable import FinetopTUI

/// The whole loop without tmux: a real run directory, keys in, screens and control.json out.
@Suite struct EventLoopTests {
    /// A run directory holding the frozen MobileNetV2 run.
    func runDirectory() throws -> String {
        let dir = NSTemporaryDirectory() + "finetop-loop-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: TestRuns.snapshotsDir + "/mobilenetv2_224_frozen.events.jsonl",
                                         toPath: dir + "/events.jsonl")
        return dir
    }

    func loop(_ dir: String, _ term: TestTerminal, job: DashboardJob? = nil, ctrlC: Bool = false,
              signals: [Int32] = []) throws -> EventLoop {
        let source = EventsFileSource(eventsPath: dir + "/events.jsonl", runDirectory: dir)
        _ = try source.poll()
        var state = AppState(run: source.run, runName: nil, pathName: "run", readOnlyReason: nil, control: nil,
                             options: DashboardOptions(color: false, ascii: false), width: term.size.width,
                             height: term.size.height, now: Clock.now)
        if let job { state.job = JobView(pid: job.pid, ctrlCInterruptsJob: ctrlC) }
        var pending = signals
        return EventLoop(state: state, terminal: term, source: source, job: job,
                         watcher: FileWatcher(paths: [dir + "/events.jsonl"]),
                         takeSignal: { pending.isEmpty ? 0 : pending.removeFirst() })
    }

    func text(_ b: ScreenBuffer) -> String { b.lines.joined(separator: "\n") }

    @Test func keysToggleALayerWriteControlAndQuit() throws {
        let dir = try runDirectory()
        let term = TestTerminal(width: 80, height: 24)
        term.type([.char("j"), .char(" ")])
        let l = try loop(dir, term)
        l.step(timeoutMs: 0)
        l.step(timeoutMs: 0)
        #expect(text(term.screen).contains("Y*"))
        #expect(text(term.screen).contains("Pending 1: trainable 413,664 (+864)"))
        let file = try #require(try ControlFile.read(from: dir))
        #expect(file.revision == 1 && file.trainable == ["Conv1": true])
        term.type([.char("q")])
        #expect(l.run() == .quit)
    }

    @Test func resizeRedrawsAtTheNewSize() throws {
        let term = TestTerminal(width: 80, height: 24)
        let l = try loop(try runDirectory(), term)
        l.step(timeoutMs: 0)
        term.resize(width: 120, height: 40)
        l.step(timeoutMs: 0)
        l.step(timeoutMs: 0)
        #expect(term.screen.width == 120 && term.screen.height == 40)
        #expect(term.screen.lines[39].hasPrefix("└─ space toggle"))
        #expect(term.invalidations == 1)
    }

    @Test func appendedAckReachesTheScreen() throws {
        let dir = try runDirectory()
        let term = TestTerminal(width: 100, height: 30)
        term.type([.char("j"), .char(" ")])
        let l = try loop(dir, term)
        l.step(timeoutMs: 0)
        let h = try #require(FileHandle(forWritingAtPath: dir + "/events.jsonl"))
        h.seekToEndOfFile()
        h.write(Data(#"{"type":"control","revision":1,"status":"applied","changed":["Conv1"],"message":null}"#.utf8 + [10]))
        try h.close()
        let deadline = Date().addingTimeInterval(5)
        while !text(term.screen).contains("job applied revision 1") && Date() < deadline { l.step(timeoutMs: 200) }
        #expect(text(term.screen).contains("job applied revision 1: Conv1"))
    }

    @Test func sigtermQuitsAndSaysWhichSignal() throws {
        let term = TestTerminal(width: 80, height: 24)
        let l = try loop(try runDirectory(), term, signals: [SIGTERM])
        #expect(l.run() == .signal(SIGTERM))
    }

    @Test func anotherDashboardsWriteIsReReadAndShownPending() throws {
        let dir = try runDirectory()
        let term = TestTerminal(width: 100, height: 30)
        let l = try loop(dir, term)
        l.step(timeoutMs: 0)
        // Another dashboard merges its toggle into control.json while this one runs.
        _ = try ControlFile.update(in: dir, ControlChange(trainable: ["Conv1": true], atLeast: 1))
        let deadline = Date().addingTimeInterval(5)
        while !text(term.screen).contains("from elsewhere") && Date() < deadline { l.step(timeoutMs: 200) }
        #expect(text(term.screen).contains("control.json revision 1 from elsewhere"))
        #expect(text(term.screen).contains("Y*"))
        // Our own toggle is merged with it, not written over it.
        term.type([.char("j"), .char("j"), .char("j"), .char("j"), .char(" ")])
        l.step(timeoutMs: 0)
        let file = try #require(try ControlFile.read(from: dir))
        #expect(file.revision == 2)
        #expect(file.trainable["Conv1"] == true && file.trainable.count == 2)
    }

    @Test func aWriteThatFailsShowsTheToggleAsNotWritten() throws {
        let dir = try runDirectory()
        // A directory where control.json should be: every write fails.
        try FileManager.default.createDirectory(atPath: dir + "/control.json", withIntermediateDirectories: false)
        let term = TestTerminal(width: 200, height: 40)
        term.type([.char("j"), .char(" ")])
        let l = try loop(dir, term)
        l.step(timeoutMs: 0)
        l.step(timeoutMs: 0)
        let screen = text(term.screen)
        #expect(screen.contains("Y!"))
        #expect(screen.contains("could not write control.json"))
        #expect(screen.contains("Not written (1)"))
        #expect(!screen.contains("Y*"))
    }

    @Test func ctrlLRepaintsTheWholeScreen() throws {
        let term = TestTerminal(width: 80, height: 24)
        term.type([.ctrl("l"), .char("q")])
        #expect(try loop(try runDirectory(), term).run() == .quit)
        #expect(term.invalidations == 1)
    }

    @Test func sigintInterruptsARealJobThenTheDashboardShowsItsEnd() throws {
        let job = try ChildJob(["/bin/sleep", "30"])
        let term = TestTerminal(width: 100, height: 30)
        let l = try loop(try runDirectory(), term, job: job, ctrlC: true, signals: [SIGINT])
        l.step(timeoutMs: 0)
        #expect(l.exit == nil)
        let deadline = Date().addingTimeInterval(5)
        while !text(term.screen).contains("killed by SIGINT") && Date() < deadline { l.step(timeoutMs: 100) }
        #expect(text(term.screen).contains("killed by SIGINT"))
        term.type([.char("q")])
        #expect(l.run() == .quit)
    }
}

/// A real child process as the dashboard's job, the leader of its own process group and reaped
/// with waitpid like `finetop run`'s.
final class ChildJob: DashboardJob {
    let pid: Int32
    private var ended: JobState?

    init(_ argv: [String]) throws {
        var p: pid_t = 0
        let cargs = argv.map { strdup($0) } + [nil]
        defer { for a in cargs { free(a) } }
        // Default SIGINT and no blocked signals, whatever the test runner set (as `finetop run` does).
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var none = sigset_t(), defaults = sigset_t()
        sigemptyset(&none)
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGINT)
        posix_spawnattr_setsigmask(&attr, &none)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setpgroup(&attr, 0)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))
        guard posix_spawn(&p, argv[0], nil, &attr, cargs, environ) == 0 else { throw CocoaError(.executableLoad) }
        pid = p
    }

    deinit { if ended == nil { kill(pid, SIGKILL); _ = currentState() } }

    func currentState() -> JobState {
        if let ended { return ended }
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return .running }
        let sig = status & 0x7f
        ended = sig == 0 ? .exited((status >> 8) & 0xff) : .signalled(sig)
        return ended ?? .running
    }

    func interrupt() { kill(pid, SIGINT) }

    func signalGroup(_ signal: JobSignal) {
        switch signal {
        case .terminate: kill(-pid, SIGTERM)
        case .kill: kill(-pid, SIGKILL)
        }
    }

    /// Anything left in the job's process group (asked once the leader has been reaped).
    var groupAlive: Bool { kill(-pid, 0) == 0 || errno == EPERM }
}
