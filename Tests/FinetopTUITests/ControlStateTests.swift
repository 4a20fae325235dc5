import Testing
import FinetopCore
@testable import FinetopTUI

/// What the dashboard shows and sends around control.json: other dashboards' changes, failed
/// writes, changes made after the job ended, stops addressed to one job, and the escalation of
/// signals to a job that will not end.
@Suite struct ControlStateTests {
    let start = TestRuns.state(TestRuns.mobileNet(), width: 120, height: 40)

    func change(_ effects: [Effect]) -> ControlChange? {
        for e in effects {
            switch e {
            case .writeControl(let c): return c
            case .quit, .interruptJob, .readOutput, .signalJobGroup, .repaint: continue
            }
        }
        return nil
    }

    @Test func onlyTheUsersChangeIsSentAndTheMergedFileIsFollowed() throws {
        let (s, effects) = TestRuns.press(start, [.char("j"), .char(" ")])
        let c = try #require(change(effects))
        #expect(c.trainable == ["Conv1": true] && c.stop == nil)
        // Another dashboard had written block_1 meanwhile: the merged file comes back.
        let merged = ControlFile(revision: 3, trainable: ["Conv1": true, "block_1_expand": true])
        let (after, _) = reduce(s, .controlWritten(merged, c))
        #expect(after.control.revision == 3)
        #expect(after.control.desired == ["Conv1": true, "block_1_expand": true])
        #expect(after.pendingCount == 2)
        #expect(after.message?.text.contains("revision 3") == true)
    }

    @Test func anotherDashboardsChangeShowsAsPending() {
        let other = ControlFile(revision: 4, trainable: ["Conv1": true])
        let (s, effects) = reduce(start, .controlRead(other))
        #expect(effects.isEmpty)
        #expect(s.pendingFlag(s.layers[1]) == true)
        #expect(s.control.revision == 4)
        #expect(s.message?.text.contains("Conv1") == true)
        // Our next change takes a revision above it.
        let (_, e2) = TestRuns.press(s, [.char("j"), .char("j"), .char(" ")])
        #expect(change(e2)?.atLeast == 5)
    }

    @Test func aFailedWriteShowsAsFailedWithTheReasonNotPending() {
        let (s, effects) = TestRuns.press(start, [.char("j"), .char(" ")])
        let c = change(effects) ?? ControlChange()
        let failed = reduce(s, .controlFailed("cannot write: the file size limit (ulimit -f) is exceeded (EFBIG)", c)).0
        #expect(failed.pendingCount == 0)
        #expect(failed.failedToggle(failed.layers[1])?.want == true)
        #expect(failed.message?.kind == .error)
        #expect(failed.message?.text.contains("EFBIG") == true)
        #expect(failed.message?.text.contains("NOT sent") == true)
        let screen = render(failed).lines.joined(separator: "\n")
        #expect(screen.contains("Y!"))
        // The whole reason is too long for the bottom line at 120 columns: it opens in a box
        // (over the totals) until the next key or until it fades.
        #expect(screen.contains("(EFBIG) · 1 toggle NOT"))
        // The note under the totals stays after the message fades; a successful retry clears it.
        let faded = reduce(failed, .tick(now: failed.now + 60)).0
        #expect(render(faded).lines.joined().contains("Not written (1)"))
        let (retried, e2) = TestRuns.press(faded, [.char(" ")])
        let ok = reduce(retried, .controlWritten(ControlFile(revision: 1, trainable: ["Conv1": true]), change(e2) ?? ControlChange())).0
        #expect(ok.failedToggle(ok.layers[1]) == nil)
        #expect(ok.pendingCount == 1)
    }

    @Test func aFailedWriteKeepsTheEarlierPendingChangeOfThatLayer() throws {
        // Conv1 unfrozen (written), then frozen again: that second write fails.
        let (first, e1) = TestRuns.press(start, [.char("j"), .char(" ")])
        let written = reduce(first, .controlWritten(ControlFile(revision: 1, trainable: ["Conv1": true]), try #require(change(e1)))).0
        let (second, e2) = TestRuns.press(written, [.char(" ")])
        let failed = reduce(second, .controlFailed("disk full", try #require(change(e2)))).0
        #expect(failed.control.desired == ["Conv1": true])
        #expect(failed.pendingFlag(failed.layers[1]) == true, "revision 1 is still in control.json, not applied yet")
    }

    @Test func aToggleAfterTheJobEndedSaysWhenItApplies() {
        var run = TestRuns.mobileNet()
        run.end = RunEnd(reason: "completed")
        let s = TestRuns.state(run, width: 120, height: 40)
        let (after, _) = TestRuns.press(s, [.char("j"), .char(" ")])
        #expect(after.message?.text.contains("applied when a job is restarted in this directory") == true)
        #expect(render(after).lines.joined().contains("Queued 1 for the next job"))
    }

    @Test func theStopIsAddressedToThisRunAndClearedWhenItEnds() throws {
        var s = start
        s.job = JobView(pid: 4242, ctrlCInterruptsJob: true)
        let (asked, effects) = TestRuns.press(s, [.char("s"), .char("y")])
        let c = try #require(change(effects))
        #expect(c.stop == true)
        #expect(c.stopRunID == s.run.info?.runID && c.stopRunID != nil)
        // The job honours it and ends: the stop is taken back so the next job here is not stopped.
        var ended = asked.run
        ended.end = RunEnd(reason: "stopped")
        let (done, e2) = reduce(asked, .runUpdated(ended, lastWrite: nil))
        let clear = try #require(change(e2))
        #expect(clear.stop == false)
        #expect(clear.atLeast > c.atLeast)
        #expect(!done.control.stop)
    }

    @Test func aStopForAnotherRunIsLeftAlone() {
        var s = TestRuns.state(TestRuns.mobileNet(), control: ControlFile(revision: 2, stop: true, stopRunID: "someone-else"))
        s.job = JobView(pid: 1, ctrlCInterruptsJob: true)
        var ended = s.run
        ended.end = RunEnd(reason: "completed")
        #expect(change(reduce(s, .runUpdated(ended, lastWrite: nil)).1) == nil)
    }

    @Test func sigintEscalatesToSigtermThenSigkillWithStatedDelays() {
        var s = start
        s.job = JobView(pid: 4242, ctrlCInterruptsJob: true)
        let (int, e1) = reduce(s, .interrupt)
        #expect(e1 == [.interruptJob])
        #expect(int.message?.text.contains("SIGTERM to its process group if it still runs in 10 s") == true)
        #expect(reduce(int, .tick(now: int.now + JobView.termDelay - 1)).1.isEmpty)
        let (term, e2) = reduce(int, .tick(now: int.now + JobView.termDelay))
        #expect(e2 == [.signalJobGroup(.terminate)])
        #expect(term.message?.text.contains("sent SIGTERM") == true)
        #expect(term.message?.text.contains("SIGKILL in 5 s") == true)
        #expect(reduce(term, .tick(now: term.now + JobView.killDelay - 1)).1.isEmpty)
        let (kill, e3) = reduce(term, .tick(now: term.now + JobView.killDelay))
        #expect(e3 == [.signalJobGroup(.kill)])
        #expect(kill.message?.text.contains("sent SIGKILL") == true)
        #expect(reduce(kill, .tick(now: kill.now + 60)).1.isEmpty)
        // A job that ends after SIGINT is left alone.
        let gone = reduce(int, .jobChanged(.signalled(2))).0
        #expect(reduce(gone, .tick(now: gone.now + 60)).1.isEmpty)
    }

    @Test func childrenLeftBehindByTheLeaderGetSigtermThenSigkill() {
        var s = start
        s.job = JobView(pid: 4242, ctrlCInterruptsJob: true)
        s = reduce(s, .jobChanged(.exited(0))).0
        let (left, e1) = reduce(s, .jobGroupChanged(alive: true))
        #expect(e1 == [.signalJobGroup(.terminate)])
        #expect(left.message?.text.contains("processes it started still run") == true)
        let (_, e2) = reduce(left, .tick(now: left.now + JobView.killDelay))
        #expect(e2 == [.signalJobGroup(.kill)])
        // Once they are gone, nothing more is sent.
        let clean = reduce(left, .jobGroupChanged(alive: false)).0
        #expect(reduce(clean, .tick(now: clean.now + 60)).1.isEmpty)
    }

    @Test func partialAndStatsFrozenRowsHaveTheirOwnMarks() {
        let table = LayerTable(revision: 0, layers: [
            Layer(name: "proj", className: "Linear", params: 10, trainableParams: 2, trainable: true, partial: true),
            Layer(name: "bn", className: "BatchNorm2d", params: 4, trainableParams: 0, trainable: false, statsFrozen: true),
        ])
        var run = Run(format: .runDirectory)
        run.model = table
        let lines = render(TestRuns.state(run, width: 120, height: 40)).lines
        #expect(lines.contains { $0.contains("proj") && $0.contains(" P ") })
        #expect(lines.contains { $0.contains("bn") && $0.contains(" Ns ") })
    }
}
