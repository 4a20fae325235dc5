import Foundation
import Testing
import FinetopCore

/// `finetop demo` as a newcomer sees it: the real binary in tmux, its trainer a real child process.
@Suite(.serialized, .enabled(if: Binary.tmuxAvailable, "needs tmux"))
struct DemoTmuxTests {
    /// The pane's header epoch counter (`epoch 12/300` → 12).
    static func epoch(_ screen: String) -> Int? {
        guard let r = screen.range(of: #"epoch (\d+)/"#, options: .regularExpression) else { return nil }
        return Int(screen[r].dropFirst(6).dropLast())
    }

    /// The row of the layer table for `layer` (the cursor mark may precede the name; the class column
    /// gives way to the update ratio at 120 columns).
    static func row(_ screen: String, _ layer: String) -> Substring? {
        screen.split(separator: "\n").first { $0.range(of: "[ ›>]\(layer) +(Dense|[YN])", options: .regularExpression) != nil }
    }

    @Test func demoFillsTheChartDiagnosesAndAcksAToggle() throws {
        let dir = temporaryRunPath("finetop-demo")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // 132 columns: the header has the run, epoch, liveness, rate, pid and the hint whole.
        let t = try TmuxSession(width: 132, height: 40)
        try t.run("\(Binary.path) demo --epochs-per-second 20 --dir \(dir)")

        // The chart fills as the epoch counter grows.
        let first = try t.waitFor("the first epochs", timeout: 30) { (Self.epoch($0) ?? 0) >= 2 && $0.contains("Layers 6") }
        let later = try t.waitFor("more epochs and a fuller chart", timeout: 30) {
            (Self.epoch($0) ?? 0) >= (Self.epoch(first) ?? 0) + 5 && brailleCount($0) > brailleCount(first) + 10
        }
        #expect(later.contains("pid "), "the header shows the trainer's pid")
        #expect(later.contains("real job: finetop run"), "the header says how to watch a real job")
        try t.waitFor(text: "UNDERFITTING", timeout: 60)

        // Toggle a frozen layer: control.json is written, the job acks, the trainable total grows.
        let trainableBefore = try #require(try Self.trainable(t.screen()))
        try t.keys("/")
        try t.tmux(["send-keys", "-t", t.name, "-l", "dense_2"])
        try t.keys("Enter", "Space")
        try waitUntil("control.json with dense_2") { (try? ControlFile.read(from: dir))?.trainable == ["dense_2": true] }
        let acked = try t.waitFor("the ack and the new total", timeout: 20) { s in
            guard let row = Self.row(s, "dense_2"), let now = Self.trainable(s) else { return false }
            return row.contains(" Y ") && !row.contains("Y*") && now == trainableBefore + 2_080
        }
        #expect(acked.contains("No pending changes"))
        let run = try RunLoader.load(path: dir)
        #expect(run.acks.last?.revision == 1)
        #expect(run.acks.last?.status == .applied)

        // q quits: the terminal is clean, the trainer is gone and ended its run with `stopped`.
        try t.keys("q")
        let after = try t.waitFor(text: "FINETOP-EXITED 0")
        #expect(!after.contains("Layers 6"))
        #expect(brailleCount(after) == 0)
        try waitUntil("the trainer to be gone") { processes(mentioning: dir).isEmpty }
        #expect(try RunLoader.load(path: dir).end?.reason == "stopped")
    }

    /// `Trainable params: 2,165 (8.46 KB)` → 2165.
    static func trainable(_ screen: String) -> Int? {
        guard let line = screen.split(separator: "\n").first(where: { $0.contains("Trainable") }),
              let r = line.range(of: #"Trainable( params)?: +[0-9,]+"#, options: .regularExpression) else { return nil }
        return Int(line[r].split(separator: " ").last?.replacingOccurrences(of: ",", with: "") ?? "")
    }

    @Test(arguments: [("underfit", "UNDERFITTING"), ("overfit", "OVERFITTING"), ("fit", "FIT "), ("diverge", "DIVERGING")])
    func eachScenarioReachesItsLabel(scenario: String, label: String) throws {
        let dir = temporaryRunPath("finetop-demo-\(scenario)")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let t = try TmuxSession(width: 120, height: 40)
        try t.run("\(Binary.path) demo --scenario \(scenario) --epochs-per-second 40 --dir \(dir)")
        // The label is the diagnosis panel's first word: `FIT since epoch …`, never a substring of another.
        try t.waitFor("\(label) for \(scenario)", timeout: 90) { s in
            s.split(separator: "\n").contains { $0.contains("│ \(label)") && $0.contains("since epoch") }
        }
        try t.keys("q")
        try t.waitFor(text: "FINETOP-EXITED 0")
        try waitUntil("the trainer to be gone") { processes(mentioning: dir).isEmpty }
    }

    @Test func demoAt80x24FitsAndQuitsClean() throws {
        let dir = temporaryRunPath("finetop-demo-small")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let t = try TmuxSession(width: 80, height: 24)
        try t.run("\(Binary.path) demo --epochs-per-second 20 --dir \(dir)")
        let screen = try t.waitFor("a frame with epochs", timeout: 30) { (Self.epoch($0) ?? 0) >= 3 && $0.contains("Layers 6") }
        let rows = screen.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(rows.first?.count == 80)
        #expect(rows.count >= 24 && rows[23].hasPrefix("└"))
        // Too narrow for the hint in the header: the help has it.
        try t.keys("?")
        try t.waitFor(text: "real job: finetop run -- python train.py")
        try t.keys("Escape", "q")
        try t.waitFor(text: "FINETOP-EXITED 0")
        try waitUntil("the trainer to be gone") { processes(mentioning: dir).isEmpty }
    }

    /// Not a terminal: the run as plain text, as before the dashboard (CI, pipes).
    @Test func demoInAPipePrintsPlainText() throws {
        let dir = temporaryRunPath("finetop-demo-pipe")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try CLI.run(["demo", "--epochs-per-second", "0", "--epochs", "5", "--dir", dir])
        #expect(r.status == 0)
        #expect(r.stdout.contains("epoch      loss"))
        #expect(r.stdout.contains("end: completed"))
    }
}
