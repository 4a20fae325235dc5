import Testing
@testable import FinetopCore
@testable import FinetopTUI

/// Issue 12: a read-only log still being written (a Lightning metrics.csv) is live, not "a
/// finished log"; one that does not change stays a log.
@Suite struct LiveLogTests {
    @Test func readOnlyLogThatGrowsIsLive() {
        var run = Run(format: .lightningCSV)
        run.epochs = [EpochRecord(epoch: 0, values: ["loss": 1])]
        let s = AppState(run: run, runName: nil, readOnlyReason: "read-only", control: nil,
                         options: DashboardOptions(), width: 100, height: 30, now: 100, lastWrite: 99)
        #expect(s.liveness == .log)
        var grown = run
        grown.epochs.append(EpochRecord(epoch: 1, values: ["loss": 0.9]))
        var (next, _) = reduce(s, .runUpdated(grown, lastWrite: 101))
        next.now = 102
        #expect(next.liveness == .live)
        next.now = 200
        #expect(next.liveness == .stale(seconds: 99))
    }
}
