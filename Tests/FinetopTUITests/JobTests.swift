import Testing
import FinetopCore
@testable import FinetopTUI

/// A job the dashboard started (`finetop run`, the demo): header, Ctrl-C, stop escalation, output.
@Suite struct JobTests {
    func withJob(ctrlC: Bool = true) -> AppState {
        var s = TestRuns.state(TestRuns.mobileNet(), width: 120, height: 40)
        s.job = JobView(pid: 4242, ctrlCInterruptsJob: ctrlC)
        return s
    }

    func header(_ s: AppState) -> String { render(s).lines[0] }

    @Test func headerShowsThePidThenHowTheJobEnded() {
        var s = withJob()
        #expect(header(s).contains("pid 4242"))
        s = reduce(s, .jobChanged(.exited(3))).0
        #expect(header(s).contains("exited with status 3"))
        #expect(header(s).contains("no end line"), "no `end` line and no process: not live")
        #expect(s.message?.text.contains("o shows its output") == true)
        s = reduce(s, .jobChanged(.signalled(9))).0
        #expect(header(s).contains("killed by SIGKILL"))
    }

    @Test func ctrlCInterruptsARunningJobAndStays() {
        let (s, effects) = reduce(withJob(), .interrupt)
        #expect(effects == [.interruptJob])
        #expect(!s.shouldQuit)
        #expect(s.job?.interrupted == true)
        // Once the job has ended, Ctrl-C quits.
        let ended = reduce(s, .jobChanged(.signalled(2))).0
        let (q, e2) = reduce(ended, .interrupt)
        #expect(q.shouldQuit)
        #expect(e2 == [.quit])
    }

    @Test func ctrlCQuitsTheDemo() {
        let (s, effects) = reduce(withJob(ctrlC: false), .interrupt)
        #expect(s.shouldQuit)
        #expect(effects == [.quit])
    }

    @Test func stopEscalatesToSIGINTAfterTheGraceOrASecondS() {
        let (asked, effects) = TestRuns.press(withJob(), [.char("s"), .char("y")])
        #expect(effects.contains { if case .writeControl(let f) = $0 { return f.stop == true } else { return false } })
        #expect(asked.job?.stopAskedAt == asked.now)
        // Within the grace nothing more happens; after it, SIGINT once.
        #expect(reduce(asked, .tick(now: asked.now + 1)).1.isEmpty)
        let (late, e2) = reduce(asked, .tick(now: asked.now + JobView.stopGrace))
        #expect(e2 == [.interruptJob])
        #expect(reduce(late, .tick(now: late.now + 1)).1.isEmpty)
        // A second `s` does not wait for the grace.
        let (_, e3) = TestRuns.press(asked, [.char("s")])
        #expect(e3 == [.interruptJob])
    }

    @Test func outputKeyReadsTheLogAndAnyKeyCloses() {
        let (s, effects) = TestRuns.press(withJob(), [.char("o")])
        #expect(effects == [.readOutput])
        #expect(s.showOutput)
        let filled = reduce(s, .outputRead(["Traceback (most recent call last):", "ValueError: \u{1b}[2Jboom"])).0
        let screen = render(filled).lines.joined(separator: "\n")
        #expect(screen.contains("ValueError: ?[2Jboom"))
        #expect(screen.contains("output.log"))
        let closed = TestRuns.press(filled, [.escape]).0
        #expect(!closed.showOutput)
        #expect(!closed.shouldQuit)
    }

    @Test func outputTailKeepsWhatATerminalWouldShow() {
        let bytes = Array("partial\nepoch 1/3\r[====] 50%\r[========] 100%\nab\u{8}c\n\tx\n".utf8)
        #expect(OutputTail.lines(bytes, fromStart: false) == ["[========] 100%", "ac", "        x"])
        #expect(OutputTail.lines(bytes, fromStart: true).first == "partial")
    }

    @Test func watchWithoutAJobIsUnchanged() {
        let s = TestRuns.state(TestRuns.mobileNet(), width: 120, height: 40)
        let (q, effects) = reduce(s, .interrupt)
        #expect(q.shouldQuit && effects == [.quit])
        #expect(!header(s).contains("pid"))
    }
}
